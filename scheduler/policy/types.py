"""The plain data the scheduling policy reads and returns.

This module owns the policy's vocabulary: the views of nodes and chains the service
builds from the database each cycle, the quota table and how a limit is looked up,
the policy's configuration, and the :class:`Decision` it returns. Nothing here touches
the database, a backend or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scheduler.model.enums import Priority
from scheduler.model.quota_names import TOTAL_NODES as TOTAL_NODES
from scheduler.model.quota_names import default_key
from scheduler.model.quota_names import quota_resource as quota_resource

#: Priority given to a dev-container "spot" server occupying a node: the lowest occupant.
SPOT_PRIORITY = -1


@dataclass(slots=True, frozen=True)
class NodeView:
    """A whole node. ``schedulable`` False (draining/offline): running work stays,
    nothing new is placed on it."""

    name: str
    group: str
    gpus: int
    schedulable: bool = True


@dataclass(slots=True, frozen=True)
class PendingChain:
    """A chain waiting for nodes. A resumed chain passes its original ``queued_at``."""

    id: int
    user: str
    user_group: str | None
    group: str
    priority: int
    node_count: int
    queued_at: float
    is_resume: bool = False


@dataclass(slots=True, frozen=True)
class RunningChain:
    """A chain (or, with priority -1, a spot dev server) holding nodes.

    ``releasing`` True: a suspend/stop is already in progress; its nodes will be free soon
    and it is never chosen as a victim again.
    """

    id: int
    user: str
    user_group: str | None
    group: str
    priority: int
    nodes: tuple[str, ...]
    started_at: float
    releasing: bool = False


@dataclass(slots=True)
class QuotaTable:
    """Node quotas.

    ``rows`` maps ``(subject_kind, subject, resource)`` to a limit, where ``subject_kind`` is
    ``'user'`` or ``'group'`` and ``resource`` is ``node-<group>-<PRIORITY NAME>`` or ``node``.
    ``defaults`` maps a PRIORITY NAME (per-priority limits) or ``'node'`` (total) to a limit.
    """

    rows: dict[tuple[str, str, str], int] = field(default_factory=dict)
    defaults: dict[str, int] = field(default_factory=dict)

    def limit(self, user: str, user_group: str | None, resource: str) -> int | None:
        """The limit for ``user`` on ``resource``; None means unlimited.

        A user row wins over a row of the user's group, which wins over the default.
        """
        rows = self.rows
        value = rows.get(("user", user, resource))
        if value is not None:
            return value
        if user_group is not None:
            value = rows.get(("group", user_group, resource))
            if value is not None:
                return value
        return self.defaults.get(default_key(resource))


@dataclass(slots=True, frozen=True)
class PolicyConfig:
    """Knobs of the policy (traitlets of the same names on the scheduler service).

    ``min_run_seconds``: a chain that has run less than this is not preempted.
    ``aging_seconds``: every this many seconds of waiting raise a pending chain's effective
    priority by one, up to ``max(base, aging_max_priority)``; 0 disables aging.
    """

    min_run_seconds: float = 0.0
    aging_seconds: float = 0.0
    aging_max_priority: int = Priority.HIGH


@dataclass(slots=True, frozen=True)
class Placement:
    """Start chain ``chain_id`` on exactly these whole nodes."""

    chain_id: int
    nodes: tuple[str, ...]


@dataclass(slots=True)
class Decision:
    """What to do this cycle.

    ``starts``: chains to start now, in decision order. ``suspends``: ids of running chains to
    preempt. ``waiting``: a human-readable reason for every pending chain not started.
    """

    starts: list[Placement] = field(default_factory=list)
    suspends: list[int] = field(default_factory=list)
    waiting: dict[int, str] = field(default_factory=dict)
    complete: bool = True  # False: ``waiting`` covers only the chains walked (see decide)
