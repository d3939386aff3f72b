"""Usage reports: GPU- and node-hours over a window, grouped by any of the dimensions.

A report folds first (under the cursor lock, in its own transaction), then adds up the
rollup's hours within the window and the segments not folded (running ranks and dev
servers, up to "now"). Folds and releases wait for that lock, so nothing is counted in
both or in neither. The window is whole hours: ``since`` is rounded down to the hour,
``until`` up (and never past "now").
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.accounting import sources
from scheduler.accounting.fold import DEFAULT_MARGIN, fold_ranks
from scheduler.accounting.segments import HOUR_US, Segment, ceil_hour, clip, floor_hour, hours
from scheduler.model.enums import Priority
from scheduler.model.usage import NO_PRIORITY, UsageCursor, UsageDay, UsageHour

DIMENSIONS = ("user", "group", "node_group", "priority", "day", "profile", "kind")
_ATTRS = {
    "user": "user_name",
    "group": "user_group",
    "node_group": "node_group",
    "priority": "priority",
    "profile": "profile",
    "kind": "kind",
}


@dataclass(frozen=True, slots=True)
class Filters:
    """What a report counts; None: no restriction."""

    since: dt.datetime
    until: dt.datetime
    user: str | None = None
    group: str | None = None
    node_group: str | None = None
    priority: int | None = None
    kind: str | None = None


def window(since: dt.datetime, until: dt.datetime, now: dt.datetime) -> tuple[dt.datetime, ...]:
    """The effective window: whole hours, never past ``now``."""
    return floor_hour(since), min(ceil_hour(until), now)


def _parts(
    since: dt.datetime, until: dt.datetime
) -> list[tuple[Any, Any, dt.datetime, dt.datetime]]:
    """(table, its time column, from, to): whole days from ``usage_days``, the hours
    before the first and after the last midnight from ``usage_hours``."""
    first = floor_hour(since).replace(hour=0)
    first = first if first == since else first + dt.timedelta(days=1)
    last = until.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = ceil_hour(until)
    if first >= last:
        return [(UsageHour, UsageHour.hour, since, end)]
    parts = [(UsageDay, UsageDay.day, first, last)]
    if since < first:
        parts.append((UsageHour, UsageHour.hour, since, first))
    if last < end:
        parts.append((UsageHour, UsageHour.hour, last, end))
    return parts


def _filtered(q: Any, model: Any, f: Filters) -> Any:
    for attr, value in (
        ("user_name", f.user),
        ("user_group", f.group),
        ("node_group", f.node_group),
        ("priority", f.priority),
        ("kind", f.kind),
    ):
        if value is not None:
            q = q.where(getattr(model, attr) == value)
    return q


def _rollup(s: Session, f: Filters, by: tuple[str, ...]) -> Iterable[tuple[tuple, int, int]]:
    for model, time_col, lo, hi in _parts(f.since, f.until):
        cols = [func.date(time_col) if d == "day" else getattr(model, _ATTRS[d]) for d in by]
        q = select(*cols, func.sum(model.gpu_us), func.sum(model.node_us))
        q = _filtered(q.where(time_col >= lo, time_col < hi), model, f)
        for row in s.execute(q.group_by(*cols) if cols else q):
            if row[-2] is None:
                continue
            dims = tuple(str(v) if d == "day" else v for d, v in zip(by, row, strict=False))
            yield dims, int(row[-2]), int(row[-1])


def _matches(seg: Segment, f: Filters) -> bool:
    k = seg.key
    return all(
        want is None or want == have
        for want, have in (
            (f.user, k.user_name),
            (f.group, k.user_group),
            (f.node_group, k.node_group),
            (f.priority, k.priority),
            (f.kind, k.kind),
        )
    )


def _dims(seg: Segment, hour: dt.datetime, by: tuple[str, ...]) -> tuple:
    values = {
        "user": seg.key.user_name,
        "group": seg.key.user_group,
        "node_group": seg.key.node_group,
        "priority": seg.key.priority,
        "profile": seg.key.profile,
        "kind": seg.key.kind,
    }
    return tuple(hour.date().isoformat() if d == "day" else values[d] for d in by)


def _live(
    segments: Iterable[Segment], f: Filters, by: tuple[str, ...]
) -> Iterable[tuple[tuple, int, int]]:
    for seg in segments:
        part = clip(seg, f.since, f.until) if _matches(seg, f) else None
        if part is None:
            continue
        if "day" not in by:
            us = sum(us for _, us in hours(part.start, part.end))
            yield _dims(part, part.start, by), us * part.gpus, us * part.nodes
            continue
        for hour, us in hours(part.start, part.end):
            yield _dims(part, hour, by), us * part.gpus, us * part.nodes


def _label(dim: str, value: Any) -> Any:
    if dim == "priority":
        return None if value == NO_PRIORITY else Priority(value).name
    if dim in ("group", "profile") and value == "":
        return None
    return value


def _hours(us: int) -> float:
    return round(us / HOUR_US, 6)


def _sum(parts: Iterable[tuple[tuple, int, int]]) -> dict[tuple, list[int]]:
    acc: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for dims, gpu_us, node_us in parts:
        acc[dims][0] += gpu_us
        acc[dims][1] += node_us
    return acc


def _totals(acc: dict[tuple, list[int]]) -> dict[str, float]:
    gpu = sum(v[0] for v in acc.values())
    node = sum(v[1] for v in acc.values())
    return {"gpu_hours": _hours(gpu), "node_hours": _hours(node)}


def tally(
    s: Session, f: Filters, by: tuple[str, ...], live: list[Segment]
) -> dict[tuple, list[int]]:
    """Microseconds per group of ``by``: the rollup plus the ``live`` segments."""
    return _sum([*_rollup(s, f, by), *_live(live, f, by)])


def report(
    s: Session,
    f: Filters,
    by: tuple[str, ...],
    now: dt.datetime,
    *,
    margin: dt.timedelta = DEFAULT_MARGIN,
) -> dict[str, Any]:
    """Rows per ``by`` group and their total, plus the cluster's total (``f`` without its
    user filter) and, when ``by`` has ``day``, the cluster's hours per day
    (``cluster_days``: what a chart of one user's days is drawn against). Commits the fold
    it starts with."""
    fold_ranks(s, now, margin=margin)
    through = s.get(UsageCursor, 1).ended_through
    since, until = window(f.since, f.until, now)
    f = replace(f, since=since, until=until)
    unfolded_since = through - margin if through is not None else None
    live = [*sources.live_ranks(s, unfolded_since, now), *sources.live_devservers(s, now)]
    acc = tally(s, f, by, live)
    per_day = "day" in by
    cluster = tally(s, replace(f, user=None), ("day",) if per_day else (), live)
    s.commit()
    rows = [
        {
            **{d: _label(d, v) for d, v in zip(by, dims, strict=True)},
            "gpu_hours": _hours(gpu_us),
            "node_hours": _hours(node_us),
        }
        for dims, (gpu_us, node_us) in sorted(acc.items(), key=lambda kv: _order(kv[0]))
    ]
    out = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "by": list(by),
        "rows": rows,
        "total": _totals(acc),
        "cluster": _totals(cluster),
    }
    if per_day:
        out["cluster_days"] = [
            {"day": day, "gpu_hours": _hours(gpu_us), "node_hours": _hours(node_us)}
            for (day,), (gpu_us, node_us) in sorted(cluster.items())
        ]
    return out


def _order(dims: tuple) -> tuple:
    return tuple(str(v) for v in dims)


#: the windows ``hai-cli whoami`` shows: name -> how far back (None: since UTC midnight)
RECENT = {"today": None, "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30)}


def recent(
    s: Session, user: str, now: dt.datetime, margin: dt.timedelta = DEFAULT_MARGIN
) -> dict[str, dict[str, float | None]]:
    """``user``'s GPU- and node-hours today (UTC), in the last 7 and 30 days, with the
    cluster's GPU-hours and the user's share of them. Commits the fold it starts with."""
    fold_ranks(s, now, margin=margin)
    through = s.get(UsageCursor, 1).ended_through
    unfolded_since = through - margin if through is not None else None
    live = [*sources.live_ranks(s, unfolded_since, now), *sources.live_devservers(s, now)]
    out: dict[str, dict[str, float | None]] = {}
    for name, back in RECENT.items():
        start = (
            now.replace(hour=0, minute=0, second=0, microsecond=0) if back is None else now - back
        )
        since, until = window(start, now, now)
        f = Filters(since=since, until=until)
        mine = _totals(tally(s, replace(f, user=user), (), live))
        cluster = _totals(tally(s, f, (), live))["gpu_hours"]
        share = round(mine["gpu_hours"] / cluster, 4) if cluster else None
        out[name] = {**mine, "cluster_gpu_hours": cluster, "share": share}
    s.commit()
    return out
