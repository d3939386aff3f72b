"""What the scheduling loop hands the policy, and whether it changed since the last cycle.

This module owns :class:`PolicyCatalog` (nodes, quota rows and users' names and groups,
re-read when a writer notes a change or every ``catalog_seconds``: tables that change
rarely and should not be read on every tick), :func:`running_views` (the running chains in
the policy's terms) and :class:`DecisionKey` (the policy's whole input but the pending
queue, which :class:`~scheduler.service.queue_index.WaitingQueue` versions; with
:func:`next_time_event` it tells when a cycle may skip the policy: same input, and no
time-dependent rule has come due, give the same decision).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from scheduler.model import accounts
from scheduler.model.enums import NodeState
from scheduler.model.orm import Chain, Node, User
from scheduler.policy import NodeView, PendingChain, PolicyConfig, RunningChain
from scheduler.policy.ordering import effective_priority
from scheduler.service.queue_index import Owners, epoch


class PolicyCatalog:
    """Nodes, quotas and users as last read; ``stale`` asks for a re-read."""

    def __init__(self, refresh_seconds: float) -> None:
        self.refresh_seconds = refresh_seconds
        self.nodes: list[tuple[str, str, int, bool]] = []  # name, group, gpus, ready
        self.node_groups: dict[str, str] = {}
        self.quota_rows: dict[tuple[str, str, str], int] = {}
        self.owners: Owners = {}
        self.read_at = -math.inf
        self.version = 0

    def stale(self, now: float) -> bool:
        return now - self.read_at >= self.refresh_seconds

    def read(self, s: Session, now: float) -> bool:
        """Re-read the three tables; True if anything the policy sees changed."""
        nodes = [
            (n.name, n.group.name, n.gpus, n.state == NodeState.READY.value)
            for n in s.scalars(select(Node).options(selectinload(Node.group)).order_by(Node.name))
        ]
        quota_rows = accounts.all_quota_rows(s)
        users = s.execute(select(User.id, User.name, User.group_name))
        owners = {u.id: (u.name, u.group_name) for u in users}
        self.read_at = now
        changed = (nodes, quota_rows, owners) != (self.nodes, self.quota_rows, self.owners)
        if changed:
            self.nodes, self.quota_rows, self.owners = nodes, quota_rows, owners
            self.node_groups = {name: group for name, group, _, _ in nodes}
            self.version += 1
        return changed

    def node_views(self, blocked: set[str]) -> list[NodeView]:
        """The nodes as the policy sees them; ``blocked``: held by dev-server slices."""
        return [
            NodeView(name=name, group=group, gpus=gpus, schedulable=ready and name not in blocked)
            for name, group, gpus, ready in self.nodes
        ]


def running_views(chains: Iterable[Chain]) -> list[RunningChain]:
    """Running chains (loaded with owner, jobs and ranks) in the policy's terms."""
    out: list[RunningChain] = []
    for c in chains:
        job = c.current_job
        held = tuple(r.node for r in job.ranks if not r.rank_state.is_terminal)
        releasing = (
            c.stop_requested_at is not None
            or c.suspend_requested_at is not None
            or any(r.rank_state.is_terminating or r.rank_state.is_terminal for r in job.ranks)
        )
        out.append(
            RunningChain(
                id=c.id,
                user=c.owner.name,
                user_group=c.owner.group_name,
                group=c.group_name,
                priority=c.priority,
                nodes=held,
                started_at=epoch(job.created_at),
                releasing=releasing,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class DecisionKey:
    """Everything the policy reads, the pending queue by its version."""

    queue_version: int
    catalog_version: int
    running: tuple[RunningChain, ...]
    nodes: tuple[NodeView, ...]
    config: PolicyConfig


def next_time_event(
    pending: Sequence[PendingChain],
    running: Sequence[RunningChain],
    config: PolicyConfig,
    now: float,
) -> float:
    """The earliest moment after ``now`` when time alone can change the decision: a running
    chain outgrows ``min_run_seconds`` (it may be preempted from then on) or a pending
    chain's aged priority goes up a level. ``inf`` when no such rule is on."""
    due = math.inf
    if config.min_run_seconds > 0:
        for chain in running:
            ends = chain.started_at + config.min_run_seconds
            if ends > now and not chain.releasing:
                due = min(due, ends)
    step = config.aging_seconds
    if step > 0:
        for chain in pending:
            eff = effective_priority(chain, config, now)
            later = effective_priority(chain, config, now + step)
            if later > eff:  # not capped yet: it rises at the next multiple of step
                waited = max(now - chain.queued_at, 0.0)
                due = min(due, chain.queued_at + (math.floor(waited / step) + 1) * step)
    return due
