"""Per-rank GPU utilisation as Prometheus gauges, read at scrape time.

For every rank that holds its node, the newest sample its backend kept
(:meth:`~scheduler.backends.base.Backend.gpu_usage`; the local backend's supervisors sample
through NVML) becomes ``hai_rank_gpu_utilization_ratio`` and ``hai_rank_gpu_memory_used_bytes``
with the labels ``chain``, ``job``, ``rank``, ``node`` and ``gpu``. A series lives as long
as its rank runs, so their number is bounded by the GPUs in use. Ranks without data (no
NVML, simulated GPUs, a MIG device without utilisation) and samples older than
``stale_intervals`` sampling intervals export nothing; the families are always declared.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from scheduler.backends.base import Backend, RankKey
from scheduler.model.orm import Job, JobRank
from scheduler.service.metrics_state import ACTIVE_RANK_STATES

LABELS = ["chain", "job", "rank", "node", "gpu"]


class RankGpuCollector(Collector):
    """The newest GPU sample of each active rank."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        backend: Backend,
        clock: Callable[[], float] = time.time,
        stale_intervals: float = 3.0,
    ) -> None:
        self.sessions = session_factory
        self.backend = backend
        self.clock = clock
        self.stale_intervals = stale_intervals

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        util = GaugeMetricFamily(
            "hai_rank_gpu_utilization_ratio",
            "GPU utilisation (0-1) of a GPU of a running rank, newest sample",
            labels=LABELS,
        )
        memory = GaugeMetricFamily(
            "hai_rank_gpu_memory_used_bytes",
            "GPU memory in use on a GPU of a running rank, newest sample",
            labels=LABELS,
        )
        now = self.clock()
        for key, node in self._active_ranks():
            for gpu, values in self._fresh(self.backend.gpu_usage(key), now).items():
                labels = [str(key.chain_id), str(key.job_seq), str(key.rank), node, gpu]
                if "utilization" in values:
                    util.add_metric(labels, float(values["utilization"]))
                if "memory_used_bytes" in values:
                    memory.add_metric(labels, float(values["memory_used_bytes"]))
        yield util
        yield memory

    def _active_ranks(self) -> list[tuple[RankKey, str]]:
        with self.sessions() as s:
            rows = s.execute(
                select(Job.chain_id, Job.seq, JobRank.rank, JobRank.node)
                .join(JobRank, JobRank.job_id == Job.id)
                .where(JobRank.state.in_(ACTIVE_RANK_STATES))
            ).all()
        return [(RankKey(c, seq, r), node) for c, seq, r, node in rows]

    def _fresh(self, usage: dict[str, Any], now: float) -> dict[str, dict[str, Any]]:
        """The newest sample's GPUs, unless it is older than a few intervals."""
        samples = usage.get("samples") or []
        if not usage.get("available") or not samples:
            return {}
        newest = samples[-1]
        interval = float(usage.get("interval_seconds") or 5.0)
        if now - float(newest.get("time", 0)) > self.stale_intervals * interval:
            return {}
        return newest.get("gpus") or {}
