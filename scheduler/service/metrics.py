"""The scheduler service's Prometheus metrics: one registry per app, and what feeds it.

:class:`SchedulerMetrics` owns a ``CollectorRegistry`` of its own (several apps can run in
one process, as in the tests) holding

* the state of the platform, read from the database at scrape time
  (:class:`~scheduler.service.metrics_state.StateCollector`), and each running rank's
  GPU utilisation (:class:`~scheduler.service.metrics_gpu.RankGpuCollector`);
* what only the running process sees: the duration of each scheduling cycle, the
  preemptions the policy decided, the API's request latency per route;
* the process itself (CPU, memory, file descriptors, Python's garbage collector).

``GET {base_url}api/v1/metrics`` serves it (:mod:`scheduler.service.handlers.metrics`);
``docs/usage.md`` lists every series. Who may scrape is ``authenticate_prometheus``, as in
JupyterHub: by default an admin's token is needed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from traitlets import Any as AnyTrait
from traitlets import Bool
from traitlets.config import LoggingConfigurable

from scheduler.policy import Decision
from scheduler.service.metrics_gpu import RankGpuCollector
from scheduler.service.metrics_state import StateCollector

CYCLE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: the ``route`` of a request no documented endpoint matched
UNMATCHED = "unmatched"
#: the ``method`` label's values (anything else a client sends counts as ``other``)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class SchedulerMetrics(LoggingConfigurable):
    """The metrics of one scheduler app (its loop and its API)."""

    authenticate_prometheus = Bool(
        True,
        help="Require an admin's token to read /metrics (as JupyterHub.authenticate_prometheus); "
        "False lets anyone who reaches the port scrape without one.",
    ).tag(config=True)

    session_factory = AnyTrait(help="Where the state series are read from at scrape time.")
    backend = AnyTrait(None, allow_none=True, help="The backend: per-rank GPU samples.")

    def __init__(self, clock: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StateCollector(self.session_factory, clock))
        if self.backend is not None:
            self.registry.register(RankGpuCollector(self.session_factory, self.backend, clock))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._define()

    def _define(self) -> None:
        reg = self.registry
        self.cycle_seconds = Histogram(
            "hai_scheduler_cycle_duration_seconds",
            "Duration of one reconcile-decide-act cycle of the scheduling loop",
            buckets=CYCLE_BUCKETS,
            registry=reg,
        )
        self.cycle_failures = Counter(
            "hai_scheduler_cycle_failures",
            "Scheduling cycles that raised (retried at the next tick)",
            registry=reg,
        )
        self.last_cycle = Gauge(
            "hai_scheduler_last_cycle_timestamp_seconds",
            "When the last cycle ended (Unix time; 0: none yet); a stalled loop stops it",
            registry=reg,
        )
        self.preemptions = Counter(
            "hai_scheduler_preemptions",
            "Preemptions the policy decided: a running chain suspended, or a spot dev server "
            "reclaimed, for a chain of higher priority",
            ["victim"],
            registry=reg,
        )
        for victim in ("chain", "devserver"):
            self.preemptions.labels(victim)
        self.api_seconds = Histogram(
            "hai_api_request_duration_seconds",
            "Time to answer an API request, by route (the OpenAPI path), method and status",
            ["route", "method", "code"],
            buckets=API_BUCKETS,
            registry=reg,
        )

    # -- the loop -------------------------------------------------------------------------
    async def observe_cycle(self, cycle: Awaitable[Decision]) -> Decision:
        """Await one cycle of the loop, timing it and counting what it decided."""
        started = time.perf_counter()
        try:
            decision = await cycle
        except Exception:
            self.cycle_failures.inc()
            raise
        finally:
            self.cycle_seconds.observe(time.perf_counter() - started)
            self.last_cycle.set(self.clock())
        self.count_decision(decision)
        return decision

    def count_decision(self, decision: Decision) -> None:
        """Preemptions in a decision (negative ids are spot dev servers)."""
        chains = sum(1 for victim in decision.suspends if victim >= 0)
        if chains:
            self.preemptions.labels("chain").inc(chains)
        if len(decision.suspends) > chains:
            self.preemptions.labels("devserver").inc(len(decision.suspends) - chains)

    # -- the API --------------------------------------------------------------------------
    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered API request; ``route`` is its OpenAPI path (bounded cardinality)."""
        method = method if method in METHODS else "other"
        self.api_seconds.labels(route or UNMATCHED, method, str(status)).observe(seconds)
