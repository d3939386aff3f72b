"""Fair share in the service: recent usage read from the database, knobs → policy input.

This module owns :func:`decayed_usage`, the decayed GPU-seconds per user and per group
at ``now``, read from the start and end times of job ranks (the arithmetic is
:mod:`scheduler.policy.decay`'s), and the cache that makes it cheap: finished ranks are
folded into a running total once and the total is decayed from cycle to cycle, so a cycle
reads only ranks it has not seen end (new ids and those still running). It also turns
the ``fair_share_*`` traitlets of the scheduler app into the policy's
:class:`~scheduler.policy.FairShareConfig`.

What a rank costs: it holds its whole node, so it is charged every GPU of that node (a
node without GPUs counts as one), from its ``started_at`` to its ``ended_at`` (or now),
to its owner and to the group the owner is in when the rank ends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from scheduler.accounting.segments import rank_gpus
from scheduler.model.orm import Chain, Job, JobRank, Node, User
from scheduler.policy import FairShareConfig, FairShareUsage
from scheduler.policy.decay import UsageSegment, combined, decayed, segment_usage
from scheduler.policy.decay import decayed_usage as decayed_segments

if TYPE_CHECKING:
    from scheduler.service.app import SchedulerApp


@dataclass(slots=True)
class UsageCache:
    """Finished ranks folded into totals valued at ``at``; ranks still to watch."""

    half_life: float = 0.0
    at: float | None = None
    users: dict[str, float] = field(default_factory=dict)
    groups: dict[str, float] = field(default_factory=dict)
    last_id: int = 0  # every rank with a higher id has not been read yet
    open_ids: set[int] = field(default_factory=set)  # read, not yet folded (no end yet)

    def restart(self, half_life: float) -> None:
        """Forget everything: the next read starts from the first rank."""
        self.half_life, self.at = half_life, None
        self.users, self.groups = {}, {}
        self.last_id, self.open_ids = 0, set()

    def advance(self, now: float, half_life: float) -> None:
        """Value the folded totals at ``now`` (restart if the half-life changed or the
        clock went back)."""
        if self.at is None or half_life != self.half_life or now < self.at:
            self.restart(half_life)
        elif now > self.at:
            self.users = decayed(self.users, now - self.at, half_life)
            self.groups = decayed(self.groups, now - self.at, half_life)
        self.at = now

    def fold(self, segment: UsageSegment, now: float) -> None:
        value = segment_usage(segment.gpus, segment.start, segment.end, now, self.half_life)
        self.users[segment.user] = self.users.get(segment.user, 0.0) + value
        if segment.group is not None:
            self.groups[segment.group] = self.groups.get(segment.group, 0.0) + value


def _ts(value: dt.datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _segment(row: Any, start: float, end: float | None) -> UsageSegment:
    """A rank's run: the GPUs it holds as accounting counts them (at least one, so a
    CPU-only run still counts), its owner and their group."""
    gpus = rank_gpus(row.gpus_per_node, row.gpus)
    return UsageSegment(row.user, row.group, max(1, gpus), start, end)


def _unread_ranks(session: Session, cache: UsageCache) -> list[Any]:
    """Ranks the cache has not seen end: ids above ``last_id`` and the open ones."""
    seen = JobRank.id > cache.last_id
    if cache.open_ids:
        seen = or_(seen, JobRank.id.in_(sorted(cache.open_ids)))
    query = (
        select(
            JobRank.id,
            JobRank.started_at,
            JobRank.ended_at,
            User.name.label("user"),
            User.group_name.label("group"),
            Chain.gpus_per_node,
            Node.gpus,
        )
        .join(Job, JobRank.job_id == Job.id)
        .join(Chain, Job.chain_id == Chain.id)
        .join(User, Chain.owner_id == User.id)
        .outerjoin(Node, Node.name == JobRank.node)
        .where(seen)
    )
    return list(session.execute(query))


def decayed_usage(
    session: Session, now: float, half_life: float, cache: UsageCache | None = None
) -> FairShareUsage:
    """Decayed GPU-seconds per user and group at ``now`` (epoch seconds).

    Without ``cache`` every rank is read; with one (kept between calls), only ranks not
    yet seen ending. Either way the result is the same sum (up to rounding).
    """
    if half_life <= 0:
        raise ValueError(f"half_life must be positive, not {half_life!r}")
    cache = cache if cache is not None else UsageCache()
    cache.advance(now, half_life)
    running: list[UsageSegment] = []
    rows = _unread_ranks(session, cache)
    cache.open_ids.intersection_update(row.id for row in rows)  # the others were deleted
    for row in rows:
        cache.last_id = max(cache.last_id, row.id)
        start, end = _ts(row.started_at), _ts(row.ended_at)
        segment = None if start is None else _segment(row, start, end)
        if end is not None and end <= now:  # over: fold it in once
            cache.open_ids.discard(row.id)
            if segment is not None:
                cache.fold(segment, now)
        else:  # not started yet, running, or ending after now: read again next time
            cache.open_ids.add(row.id)
            if segment is not None:
                running.append(segment)
    folded = FairShareUsage(dict(cache.users), dict(cache.groups))
    return combined(folded, decayed_segments(running, now, half_life))


def fair_share_config(app: SchedulerApp) -> FairShareConfig | None:
    """The policy's fair-share knobs from the app's traitlets; None when it is off."""
    if app.fair_share_half_life_seconds <= 0:
        return None
    return FairShareConfig(
        user_weight=app.fair_share_user_weight,
        group_weight=app.fair_share_group_weight,
        user_shares=dict(app.fair_share_user_shares),
        group_shares=dict(app.fair_share_group_shares),
    )


def fair_share_usage(app: SchedulerApp, session: Session, now: float) -> FairShareUsage | None:
    """This cycle's recent usage, folded incrementally in ``app.usage_cache``; None when
    fair share is off."""
    half_life = app.fair_share_half_life_seconds
    if half_life <= 0:
        return None
    return decayed_usage(session, now, half_life, app.usage_cache)
