"""GPU-hours accounting: who used how many GPU- and node-hours, when, where, at what priority.

* :mod:`~scheduler.accounting.segments`: pure arithmetic — a run segment (a rank's or a
  dev server's start and end) split into hour buckets, in exact integer microseconds.
* :mod:`~scheduler.accounting.sources`: reading segments from the scheduler's own records
  (``job_ranks`` with their chain, owner and node; ``dev_servers``).
* :mod:`~scheduler.accounting.fold`: folding ended segments into the hourly rollup
  (:mod:`scheduler.model.usage`) incrementally and exactly once.
* :mod:`~scheduler.accounting.report`: reports over any window: the rollup plus what is
  not folded yet (running ranks and dev servers, counted live up to "now").

The design and its guarantees are in ``docs/usage.md``.
"""
