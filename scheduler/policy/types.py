"""The plain data the scheduling policy reads and returns.

This module owns the policy's vocabulary: the views of nodes and chains the service
builds from the database each cycle, the quota table and how a limit is looked up,
the policy's configuration, and the :class:`Decision` it returns. Nothing here touches
the database, a backend or the clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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


def _check_number(value: float, what: str, *, positive: bool) -> None:
    """Raise ValueError unless ``value`` is finite and positive (or, else, at least 0)."""
    if not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
        sign = "positive" if positive else "zero or positive"
        raise ValueError(f"{what} must be a finite {sign} number, not {value!r}")


@dataclass(slots=True, frozen=True)
class FairShareConfig:
    """How recent usage orders chains of the same effective priority (fair share on).

    A pending chain's fair-share score is
    ``user_weight * usage(user) / share(user) + group_weight * usage(group) / share(group)``
    (decayed GPU-seconds, see :class:`FairShareUsage`); lower scores go first. A share
    missing from ``user_shares``/``group_shares`` is 1; a user without a group is a group
    of their own (their own usage and share).
    """

    user_weight: float = 1.0
    group_weight: float = 1.0
    user_shares: Mapping[str, float] = field(default_factory=dict)
    group_shares: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_number(self.user_weight, "fair-share user_weight", positive=False)
        _check_number(self.group_weight, "fair-share group_weight", positive=False)
        for name, share in self.user_shares.items():
            _check_number(share, f"fair-share share of user {name!r}", positive=True)
        for name, share in self.group_shares.items():
            _check_number(share, f"fair-share share of group {name!r}", positive=True)


@dataclass(slots=True, frozen=True)
class FairShareUsage:
    """Recent usage at ``now``: decayed GPU-seconds per user and per (user) group.

    The service computes it each cycle (:mod:`scheduler.policy.decay`); a name missing
    here has used nothing recently.
    """

    users: Mapping[str, float] = field(default_factory=dict)
    groups: Mapping[str, float] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class PolicyConfig:
    """Knobs of the policy (traitlets of the same names on the scheduler service).

    ``min_run_seconds``: a chain that has run less than this is not preempted.
    ``aging_seconds``: every this many seconds of waiting raise a pending chain's effective
    priority by one, up to ``max(base, aging_max_priority)``; 0 disables aging.
    ``fair_share``: None (off) or how recent usage orders chains of one effective priority.
    """

    min_run_seconds: float = 0.0
    aging_seconds: float = 0.0
    aging_max_priority: int = Priority.HIGH
    fair_share: FairShareConfig | None = None


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
