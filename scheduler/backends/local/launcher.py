"""A fork server for rank supervisors: starting a rank costs a fork, not a new interpreter.

The local backend keeps one launcher process (this module, run with ``python -m``). For
each rank written to its stdin (its control folder and spec, a JSON line) it forks a child
that makes the rank's folders (:func:`scheduler.backends.local.runner.set_up`) and becomes
its supervisor (:func:`scheduler.backends.local.runner.run`) in a session of its own, and
answers the child's pid on stdout. Supervisors do not depend on the launcher or the scheduler: when
the scheduler dies, the launcher sees EOF and exits, and the supervisors run on.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import traceback
from pathlib import Path

from scheduler.backends.local import runner

#: modules every supervisor may need, imported here once so that each forked supervisor
#: has them already: importing NVML's bindings in each one took ~100 ms of every rank's
#: start on a loaded machine (NVML itself is initialised by each supervisor, after the
#: fork: a driver handle is not shared across processes)
PRELOADED = ("pynvml",)


def preload() -> None:
    for name in PRELOADED:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _become_supervisor(control_dir: Path, spec: dict) -> int:
    """In the forked child: the rank's folders, then its supervisor. Its stderr stays the
    server's, the backend's ``supervisors.err`` (one file for all of them, not one per
    rank: each message names its rank)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the supervisor waits for its child
    os.setsid()
    control_dir.mkdir(parents=True, exist_ok=True)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the process's own stdin
    why_not = runner.set_up(control_dir, spec)
    if why_not:
        return runner.fail_to_start(control_dir, spec, why_not)
    return runner.run(control_dir, spec)


def serve(*, nvml: bool = True) -> int:
    """One rank a line on stdin (``{"control_dir": ..., "spec": {...}}``), one pid a line
    on stdout. ``nvml``: preload NVML's bindings (not where the backend found no NVML:
    its supervisors never import them, and a smaller server forks faster)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped automatically
    if nvml:
        preload()
    for line in sys.stdin:
        if not line.strip():
            continue
        rank = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _become_supervisor(Path(rank["control_dir"]), rank["spec"])
            except BaseException:
                print(f"hai runner {rank['control_dir']}: failed", file=sys.stderr)
                traceback.print_exc()
            finally:
                os._exit(code)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve(nvml="--no-nvml" not in sys.argv[1:]))
