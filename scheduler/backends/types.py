"""The plain data a backend exchanges with the loop and the API: keys, launches,
observations, nodes and log chunks. No traitlets here, so the rank supervisor imports
it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


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
    system_user: str | None = None  # the owner's recorded system account (users table)
    uid: int | None = None  # the owner's uid and gid for pods (users table)
    gid: int | None = None
    haienv: str | None = None
    python: str | None = None  # the haienv's interpreter for .py entrypoints
    gpus: int | None = None  # GPUs of the node to expose; None = all


def rank_argv(launch: RankLaunch, default_python: str) -> list[str]:
    """argv of the user's command, the same on every backend: ``.py`` runs with the chain's
    haienv interpreter (else ``default_python``), ``.sh`` with bash, anything else is
    executed directly; never through a shell."""
    entry = launch.entrypoint
    if entry.endswith(".py"):
        return [launch.python or default_python, entry, *launch.parameters]
    if entry.endswith(".sh"):
        return ["bash", entry, *launch.parameters]
    return [entry, *launch.parameters]


@dataclass(frozen=True, slots=True)
class RankObservation:
    """What the backend sees of a rank right now."""

    phase: Literal["pending", "building", "unschedulable", "running", "exited", "gone"]
    exit_code: int | None = None
    reason: str = ""
    whole_life_state: int | None = None
    suspend_acked: bool = False
    init_failed: bool = False  # the command could not be started at all
    protocol_error: str = ""  # the rank broke the control protocol: its chain fails with this
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
