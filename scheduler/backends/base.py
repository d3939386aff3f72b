"""The interface every backend implements (local processes, Kubernetes pods).

The scheduler loop talks to a backend only through :class:`Backend`; what a backend
reports is a :class:`RankObservation`, which the loop turns into rank state transitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from traitlets.config import LoggingConfigurable


@dataclass(frozen=True, slots=True)
class RankKey:
    chain_id: int
    job_seq: int
    rank: int

    def __str__(self) -> str:
        return f"chain {self.chain_id} job {self.job_seq} rank {self.rank}"


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A node a backend offers: name, group, and its GPU ids (indices or MIG/GPU UUIDs)."""

    name: str
    group: str
    gpu_ids: tuple[str, ...] = ()

    @property
    def gpus(self) -> int:
        return len(self.gpu_ids)


@dataclass(frozen=True, slots=True)
class RankLaunch:
    """Everything needed to start one rank of one job."""

    key: RankKey
    world_size: int
    node: str
    master_node: str
    entrypoint: str
    parameters: tuple[str, ...]
    env: dict[str, str]  # rank variables, the chain's variables and the haienv's activation
    workspace: str
    owner: str
    haienv: str | None = None
    python: str | None = None  # the haienv's interpreter for .py entrypoints
    gpus: int | None = None  # GPUs of the node to expose; None = all


@dataclass(frozen=True, slots=True)
class RankObservation:
    """What the backend sees of a rank right now."""

    phase: Literal["pending", "building", "unschedulable", "running", "exited", "gone"]
    exit_code: int | None = None
    reason: str = ""
    whole_life_state: int | None = None
    suspend_acked: bool = False
    init_failed: bool = False  # the command could not be started at all
    handle: dict[str, Any] = field(default_factory=dict)  # updated handle, if it changed


@dataclass(frozen=True, slots=True)
class LogLine:
    time: str  # ISO 8601 UTC, as recorded when the line was read
    text: str


@dataclass(frozen=True, slots=True)
class LogChunk:
    lines: list[LogLine]
    next_offset: int  # pass back to continue reading after these lines
    eof: bool  # nothing more is stored right now (the rank may still write more)


class Backend(LoggingConfigurable):
    """Base class: a backend starts ranks, observes them, signals and stops them."""

    def discover_nodes(self) -> list[NodeSpec]:
        """The nodes this backend can place ranks on."""
        raise NotImplementedError

    def start_rank(self, launch: RankLaunch) -> dict[str, Any]:
        """Start one rank; return the handle to store with the rank. Raise on failure."""
        raise NotImplementedError

    def poll_rank(self, key: RankKey, handle: dict[str, Any]) -> RankObservation:
        """Report a rank's state. Must work after a scheduler restart (adopting the rank)."""
        raise NotImplementedError

    def request_suspend(self, key: RankKey, handle: dict[str, Any]) -> None:
        """Tell the rank's code that the scheduler wants it to suspend (it may checkpoint)."""
        raise NotImplementedError

    def terminate(self, key: RankKey, handle: dict[str, Any], *, force: bool = False) -> None:
        """Stop the rank's processes: politely (SIGTERM-like), or at once with ``force``."""
        raise NotImplementedError

    def read_log(self, key: RankKey, offset: int = 0, max_bytes: int = 1 << 20) -> LogChunk:
        """Timestamped output lines of a rank from ``offset``."""
        raise NotImplementedError

    def cleanup(self, key: RankKey, handle: dict[str, Any]) -> None:
        """Release what a finished rank still holds (optional)."""
