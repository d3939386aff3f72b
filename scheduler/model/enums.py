"""Enumerations of the domain: priorities, chain and rank states, stop codes."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Priority(IntEnum):
    """The seven scheduling priorities, lowest first (as HAI names them)."""

    LOW = 0
    BELOW_NORMAL = 1
    NORMAL = 2
    ABOVE_NORMAL = 3
    HIGH = 4
    VERY_HIGH = 5
    EXTREME_HIGH = 6

    @classmethod
    def parse(cls, value: str | int | Priority) -> Priority:
        """Parse a priority given by name (any case) or by number.

        Raises ValueError naming the allowed values.
        """
        if isinstance(value, Priority):
            return value
        if isinstance(value, bool):
            raise ValueError(f"priority must be one of {cls.names()}, not {value!r}")
        if isinstance(value, int):
            try:
                return cls(value)
            except ValueError:
                raise ValueError(
                    f"priority must be one of {cls.names()} "
                    f"(or {int(min(cls))}-{MAX_PRIORITY}), not {value!r}"
                ) from None
        if isinstance(value, str):
            key = value.strip().upper().replace("-", "_")
            if key in cls.__members__:
                return cls[key]
        raise ValueError(f"priority must be one of {cls.names()}, not {value!r}")

    @classmethod
    def names(cls) -> str:
        return ", ".join(p.name for p in cls)


#: The highest priority as a number (EXTREME_HIGH): the policy's range checks and levels.
MAX_PRIORITY: int = int(max(Priority))


class ChainState(StrEnum):
    """The life of a chain (one submitted task)."""

    WAITING_INIT = "waiting_init"  # queued, not yet placed (or placed and starting)
    RUNNING = "running"  # a job of the chain holds nodes
    SUSPENDED = "suspended"  # preempted; waits to resume as its next job
    FINISHED = "finished"  # ended for good: succeeded, failed or stopped


class RankState(StrEnum):
    """The life of one rank of one job of a chain."""

    CREATED = "created"
    BUILDING = "building"
    UNSCHEDULABLE = "unschedulable"
    RUNNING = "running"
    SUCCEEDED_TERMINATING = "succeeded_terminating"
    FAILED_TERMINATING = "failed_terminating"
    STOPPED_TERMINATING = "stopped_terminating"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_RANK_STATES

    @property
    def is_terminating(self) -> bool:
        return self.value.endswith("_terminating")

    @property
    def is_active(self) -> bool:
        """True while the rank holds its node (not yet terminal)."""
        return not self.is_terminal


_TERMINAL_RANK_STATES = frozenset({RankState.SUCCEEDED, RankState.FAILED, RankState.STOPPED})


class StopCode(StrEnum):
    """Why a job (and possibly its chain) ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # a rank exited non-zero
    INIT_FAILED = "init_failed"  # a rank could not be started at all
    STOPPED_BY_USER = "stopped_by_user"
    PREEMPTED = "preempted"  # suspended by the scheduler for a higher priority chain
    SUSPENDED_BY_ADMIN = "suspended_by_admin"
    TIMEOUT = "timeout"
    LOST = "lost"  # the scheduler restarted and the rank's process was gone without a trace

    @property
    def resumes(self) -> bool:
        """True when the chain goes on with a next job after this stop."""
        return self in (StopCode.PREEMPTED, StopCode.SUSPENDED_BY_ADMIN)


class NodeState(StrEnum):
    READY = "ready"
    DRAINING = "draining"  # running work continues, nothing new is placed
    OFFLINE = "offline"
