"""The interface every backend implements (local processes, Kubernetes pods).

The scheduler loop talks to a backend only through :class:`Backend`; what a backend
reports is a :class:`RankObservation`, which the loop turns into rank state transitions.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import Any

from traitlets.config import LoggingConfigurable

from scheduler.backends.types import (
    LogChunk,
    LogLine,
    NodeSpec,
    RankKey,
    RankLaunch,
    RankObservation,
)

__all__ = [
    "Backend",
    "LogChunk",
    "LogLine",
    "NodeSpec",
    "RankKey",
    "RankLaunch",
    "RankObservation",
]


class Backend(LoggingConfigurable):
    """Base class: a backend starts ranks, observes them, signals and stops them.

    The database is the service's: a backend that must know which ranks exist (to tell
    an orphan pod from a live one) asks :attr:`rank_states`, which the service sets.
    """

    #: the state of every rank of the given chain ids, keyed like :class:`RankKey`; set by
    #: the service (None when there is no database, e.g. a backend used on its own)
    rank_states: Callable[[Iterable[int]], dict[RankKey, str]] | None = None

    def describe(self) -> str:
        """One line for the start-up log: where ranks run and as whom."""
        return type(self).__name__

    def discover_nodes(self) -> list[NodeSpec]:
        """The nodes this backend can place ranks on."""
        raise NotImplementedError

    def start_rank(self, launch: RankLaunch) -> dict[str, Any]:
        """Start one rank; return the handle to store with the rank. Raise on failure."""
        raise NotImplementedError

    def start_ranks(self, launches: list[RankLaunch]) -> list[dict[str, Any] | Exception]:
        """Start several ranks (those one cycle starts): each one's handle, or the error
        that kept it from starting. This default starts them one by one; a backend that
        can overlap the starts overrides it."""
        results: list[dict[str, Any] | Exception] = []
        for launch in launches:
            try:
                results.append(self.start_rank(launch))
            except Exception as exc:
                results.append(exc)
        return results

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

    def gpu_usage(self, key: RankKey) -> dict[str, Any]:
        """A rank's GPU utilisation: ``available``, ``reason`` (why not) and ``samples``
        (``{"time": epoch, "gpus": {id: {"utilization": 0-1, "memory_used_bytes": n}}}``,
        oldest first). This default has none."""
        return {"available": False, "reason": "no GPU data from this backend", "samples": []}

    def wake_channel(self) -> socket.socket | None:
        """A socket that becomes readable when a rank changed (e.g. exited), so the loop can
        react at once instead of at its next tick; None if the backend has none."""
        return None
