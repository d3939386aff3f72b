"""A chain as the API shows it: its jobs, ranks, GPU samples, details and logs."""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
)

from scheduler.model.enums import ChainState, RankState
from scheduler.service.schema.base import PriorityName, Response, Timestamp
from scheduler.service.schema.submit import TaskSpec


class GpuSample(Response):
    """One GPU in one sample of a rank's utilisation (:mod:`scheduler.service.rank_gpu`)."""

    utilization: float | None = Field(default=None, ge=0, le=1)
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    error: str | None = None
    sometimes_absent = ("utilization", "memory_used_bytes", "memory_total_bytes", "error")


class GpuSampleAt(Response):
    time: str
    gpus: dict[str, GpuSample]


class RankGpu(Response):
    """GPU utilisation sampled by the rank's supervisor (NVML); ``available`` false with
    the reason where there is no data. On a chain's ranks: the newest sample (``time``,
    ``gpus``); on a rank's details: every sample kept (``interval_seconds``, ``samples``)."""

    available: bool
    reason: str = ""
    interval_seconds: float | None = None
    time: str | None = None
    gpus: dict[str, GpuSample] | None = None
    samples: list[GpuSampleAt] = []
    sometimes_absent = ("interval_seconds", "time", "gpus", "samples")


class Rank(Response):
    rank: int
    state: RankState
    node: str | None = None
    exit_code: int | None = None
    reason: str = ""
    started_at: Timestamp = None
    ended_at: Timestamp = None
    gpu: RankGpu | None = None  # the newest sample, on active ranks of the current job
    sometimes_absent = ("gpu",)


class Job(Response):
    seq: int
    stop_code: str | None = None
    reason: str = ""
    created_at: Timestamp = None
    ended_at: Timestamp = None
    ranks: list[Rank] = []


class Chain(Response):
    """A chain (one submitted task); ``jobs`` (each with its ranks) on a single chain."""

    id: int
    name: str
    owner: str = ""
    state: ChainState
    priority: PriorityName = "NORMAL"
    node_count: int = 1
    gpus_per_node: int | None = None
    group: str = ""
    suspend_count: int = 0
    whole_life_state: int = 0
    reason: str = ""
    stop_code: str | None = None
    stop_requested: bool = False
    held: bool = False
    tags: list[str] = []
    created_at: Timestamp = None
    updated_at: Timestamp = None
    started_at: Timestamp = None
    finished_at: Timestamp = None
    jobs: list[Job] = []
    sometimes_absent = ("jobs",)


class ChainPage(Response):
    chains: list[Chain]
    page: int
    page_size: int
    total: int
    pages: int


class Describe(Response):
    id: int
    owner: str
    yaml: str
    spec: TaskSpec


class RankDetail(Response):
    """Where a rank of the newest job runs, its working directory and environment."""

    chain_id: int
    owner: str
    job_seq: int | None
    rank: int
    state: RankState | None
    node: str | None
    handle: dict[str, Any]
    workspace: str
    haienv: str | None
    environment: dict[str, str]
    chain_state: ChainState
    gpu: RankGpu


class LogLine(Response):
    time: str
    text: str
    job: int = 0
    marker: bool = False  # a "--- job N (resumed) ---" line the server inserted
    sometimes_absent = ("marker",)


class LogPage(Response):
    chain_id: int = 0
    rank: int = 0
    state: ChainState
    lines: list[LogLine]
    cursor: str = Field(description="Pass back to continue")
    eof: bool
    done: bool = Field(description="Chain finished and all lines read")
