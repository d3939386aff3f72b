"""Folding ended run segments into the hourly rollup, incrementally and exactly once.

A fold takes the cursor row's lock first (folds and reports never interleave), finds the
ranks that ended since the cursor (less a safety margin for late commits) and are not in
the ledger, adds their hours to ``usage_hours`` and their ids to ``usage_folded`` — in one
transaction, so a fold interrupted anywhere (a scheduler restart, a crash) leaves no
trace and the next one folds those ranks once. Ledger entries older than the margin are
pruned: those ranks can no longer be candidates. A dev server is folded in the same
transaction as its release, which deletes its row.

:class:`UsageAccountant` holds the knobs (traitlets) and the periodic fold of the service.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker
from traitlets import Float, Integer
from traitlets.config import LoggingConfigurable

from scheduler.accounting import sources
from scheduler.accounting.segments import Segment, hours
from scheduler.model.orm import DevServer
from scheduler.model.usage import UsageCursor, UsageDay, UsageFolded, UsageHour

DEFAULT_MARGIN = dt.timedelta(hours=1)
DEFAULT_BATCH = 20_000
_KEY_COLUMNS = ("hour", "kind", "user_name", "user_group", "node_group", "priority", "profile")


def lock_cursor(s: Session, now: dt.datetime) -> UsageCursor:
    """Lock the cursor row for this transaction (an UPDATE: a row lock on PostgreSQL, the
    write lock on SQLite) and return it."""
    s.execute(update(UsageCursor).where(UsageCursor.id == 1).values(folded_at=now))
    cursor = s.get(UsageCursor, 1, populate_existing=True)
    if cursor is None:  # a schema made without the migration's row
        cursor = UsageCursor(id=1, folded_at=now)
        s.add(cursor)
        s.flush()
    return cursor


def bucket_rows(segments: Iterable[Segment]) -> list[dict[str, Any]]:
    """Rollup increments of ``segments``: one dict per (hour, key)."""
    acc: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for seg in segments:
        for hour, us in hours(seg.start, seg.end):
            cell = acc[(hour, seg.key)]
            cell[0] += us * seg.gpus
            cell[1] += us * seg.nodes
    return [
        {
            "hour": hour,
            "kind": key.kind,
            "user_name": key.user_name,
            "user_group": key.user_group,
            "node_group": key.node_group,
            "priority": key.priority,
            "profile": key.profile,
            "gpu_us": gpu_us,
            "node_us": node_us,
        }
        for (hour, key), (gpu_us, node_us) in acc.items()
    ]


def day_rows(hour_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hour increments summed per UTC day (``day`` instead of ``hour``)."""
    acc: dict[tuple, dict[str, Any]] = {}
    for row in hour_rows:
        day = row["hour"].replace(hour=0)
        key = (day, *(row[c] for c in _KEY_COLUMNS[1:]))
        cell = acc.get(key)
        if cell is None:
            cell = acc[key] = {**row, "gpu_us": 0, "node_us": 0}
            del cell["hour"]
            cell["day"] = day
        cell["gpu_us"] += row["gpu_us"]
        cell["node_us"] += row["node_us"]
    return list(acc.values())


def _upsert(s: Session, table: Any, time_column: str, rows: list[dict[str, Any]]) -> None:
    dialect = s.get_bind().dialect.name
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    stmt = ins.on_conflict_do_update(
        index_elements=[time_column, *_KEY_COLUMNS[1:]],
        set_={
            "gpu_us": table.c.gpu_us + ins.excluded.gpu_us,
            "node_us": table.c.node_us + ins.excluded.node_us,
        },
    )
    s.execute(stmt, rows)


def add_segments(s: Session, segments: Iterable[Segment]) -> None:
    """Add ``segments`` to the rollups (an upsert per hour bucket and per day)."""
    rows = bucket_rows(segments)
    if not rows:
        return
    _upsert(s, UsageHour.__table__, "hour", rows)
    _upsert(s, UsageDay.__table__, "day", day_rows(rows))


def fold_ranks(
    s: Session,
    now: dt.datetime,
    *,
    margin: dt.timedelta = DEFAULT_MARGIN,
    batch: int = DEFAULT_BATCH,
) -> int:
    """Fold every ended, unfolded rank into the rollup; returns how many. The caller
    commits (or rolls back: then nothing was folded)."""
    cursor = lock_cursor(s, now)
    since = cursor.ended_through - margin if cursor.ended_through else None
    newest, folded = cursor.ended_through, 0
    while True:
        rows = sources.ended_unfolded(s, since, batch)
        if not rows:
            break
        add_segments(s, (seg for r in rows if (seg := sources.rank_segment(r)) is not None))
        s.execute(insert(UsageFolded), [{"rank_id": r.id, "ended_at": r.ended_at} for r in rows])
        last = max(r.ended_at for r in rows)
        newest = last if newest is None else max(newest, last)
        folded += len(rows)
        if len(rows) < batch:
            break
    if newest is not None:
        cursor.ended_through = newest
        s.execute(delete(UsageFolded).where(UsageFolded.ended_at < newest - margin))
    s.flush()
    return folded


def fold_devserver(s: Session, ds: DevServer, now: dt.datetime) -> None:
    """Fold a dev server that is being released (call before deleting its row)."""
    lock_cursor(s, now)
    seg = sources.devserver_segment(s, ds, now)
    if seg is not None:
        add_segments(s, [seg])


class UsageAccountant(LoggingConfigurable):
    """The service's periodic fold (reports fold too, so the rollup is never stale)."""

    fold_seconds = Float(
        60.0, help="How often ended ranks are folded into the hourly usage rollup."
    ).tag(config=True)
    fold_margin_seconds = Float(
        3600.0,
        help="Ranks that ended this long before the newest folded one are still looked for "
        "(a commit that arrives late is folded, never lost).",
    ).tag(config=True)
    fold_batch = Integer(DEFAULT_BATCH, help="Ranks read per query while folding.").tag(config=True)

    @property
    def margin(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.fold_margin_seconds)

    def fold(self, factory: sessionmaker[Session], now: dt.datetime) -> int:
        """One fold in its own transaction."""
        with factory.begin() as s:
            return fold_ranks(s, now, margin=self.margin, batch=self.fold_batch)

    async def run(self, factory: sessionmaker[Session], clock: Callable[[], float]) -> None:
        """Fold every ``fold_seconds`` until cancelled."""
        while True:
            try:
                now = dt.datetime.fromtimestamp(clock(), dt.UTC)
                folded = await asyncio.to_thread(self.fold, factory, now)
                if folded:
                    self.log.debug("usage: folded %d ended ranks", folded)
            except Exception:
                self.log.exception("usage fold failed; retrying in %s s", self.fold_seconds)
            await asyncio.sleep(self.fold_seconds)
