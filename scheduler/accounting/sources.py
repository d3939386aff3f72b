"""Run segments read from the scheduler's own records.

Training: one segment per rank, from ``job_ranks.started_at`` to ``ended_at`` (or "now"
while it runs), with its chain's owner, priority and node group and the GPUs it holds.
Each job of a resumed chain has ranks of its own, so a suspended chain's waiting time is
in no segment. Dev servers: from ``created_at`` to the release (their rows are deleted
then, so :mod:`scheduler.accounting.fold` folds them as they go).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from hai_client.devcontainers import SPOT
from scheduler.accounting.segments import Key, Segment, rank_gpus
from scheduler.model.orm import Chain, DevServer, Job, JobRank, Node, NodeGroup, User
from scheduler.model.usage import NO_PRIORITY, UsageFolded


def _rank_rows() -> Any:
    return (
        select(
            JobRank.id,
            JobRank.started_at,
            JobRank.ended_at,
            Chain.gpus_per_node,
            Chain.priority,
            Chain.group_name.label("node_group"),
            User.name.label("user_name"),
            User.group_name.label("user_group"),
            Node.gpus.label("node_gpus"),
        )
        .join(Job, JobRank.job_id == Job.id)
        .join(Chain, Job.chain_id == Chain.id)
        .join(User, Chain.owner_id == User.id)
        .outerjoin(Node, Node.name == JobRank.node)
    )


def rank_segment(row: Any, now: dt.datetime | None = None) -> Segment | None:
    """The segment of a rank row (a running one ends at ``now``); None if it never ran."""
    end = row.ended_at or now
    if row.started_at is None or end is None or end <= row.started_at:
        return None
    key = Key(
        "training",
        row.user_name,
        row.user_group or "",
        row.node_group,
        row.priority,
        "",
    )
    return Segment(key, row.started_at, end, rank_gpus(row.gpus_per_node, row.node_gpus), 1)


def _unfolded() -> Any:
    return ~exists().where(UsageFolded.rank_id == JobRank.id)


def ended_unfolded(s: Session, since: dt.datetime | None, limit: int) -> Sequence[Any]:
    """Up to ``limit`` ended ranks not folded yet, that ended at ``since`` or later."""
    q = _rank_rows().where(JobRank.ended_at.is_not(None), _unfolded())
    if since is not None:
        q = q.where(JobRank.ended_at >= since)
    return s.execute(q.order_by(JobRank.ended_at, JobRank.id).limit(limit)).all()


def live_ranks(s: Session, since: dt.datetime | None, now: dt.datetime) -> list[Segment]:
    """Segments of ranks not in the rollup: running ones (up to ``now``) and ended ones
    not folded yet (none right after a fold, unless one ended meanwhile)."""
    ended = JobRank.ended_at.is_not(None) & _unfolded()
    if since is not None:
        ended &= JobRank.ended_at >= since
    q = _rank_rows().where(JobRank.started_at.is_not(None), JobRank.ended_at.is_(None) | ended)
    return [seg for row in s.execute(q) if (seg := rank_segment(row, now)) is not None]


def devserver_segment(s: Session, ds: DevServer, end: dt.datetime) -> Segment | None:
    """A dev server's segment up to ``end``: its GPU ids (a MIG slice counts one) and, for
    a spot server, its whole node."""
    if end <= ds.created_at:
        return None
    node_group = s.scalar(
        select(NodeGroup.name).join(Node, Node.group_id == NodeGroup.id).where(Node.name == ds.node)
    )
    user_group = s.scalar(select(User.group_name).where(User.name == ds.user_name))
    key = Key(
        "devserver", ds.user_name, user_group or "", node_group or "", NO_PRIORITY, ds.profile
    )
    nodes = 1 if ds.profile == SPOT else 0
    return Segment(key, ds.created_at, end, len(ds.gpu_ids), nodes)


def live_devservers(s: Session, now: dt.datetime) -> list[Segment]:
    """Segments of the dev servers that hold their slice or node now."""
    rows = s.scalars(select(DevServer)).all()
    return [seg for ds in rows if (seg := devserver_segment(s, ds, now)) is not None]
