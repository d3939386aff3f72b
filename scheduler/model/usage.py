"""The tables of GPU-hours accounting: the hourly rollup, the fold ledger, the fold cursor.

They hold *derived* data: everything here can be rebuilt from ``job_ranks`` (training)
except ended dev servers, whose rows are deleted at release and live on only as their
folded hours. :mod:`scheduler.accounting` owns what is written here and when.

* ``usage_hours``: GPU- and node-microseconds per hour bucket and per (kind, user, user
  group, node group, priority, profile). Integers, so sums are exact.
* ``usage_days``: the same per UTC day, written in the same transaction; a report reads
  whole days here and only the partial days at its ends from ``usage_hours``.
* ``usage_folded``: the ranks already folded into ``usage_hours`` (keyed by rank id, so a
  rank is folded once whatever restarts), pruned once they can no longer be candidates.
* ``usage_cursor``: one row; the newest ``ended_at`` folded, and the row every fold and
  every report locks first, so they never interleave.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.model.orm import NAME_MAX, Base

#: the ``priority`` of dev-server rows (they have none)
NO_PRIORITY = -1
#: the two kinds of use
KINDS = ("training", "devserver")


class _UsageSums:
    """The dimensions and sums an hour row and a day row share (one definition)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    user_name: Mapped[str] = mapped_column(String(NAME_MAX), index=True)
    user_group: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    node_group: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    priority: Mapped[int] = mapped_column(Integer, default=NO_PRIORITY)
    profile: Mapped[str] = mapped_column(String(32), default="")
    gpu_us: Mapped[int] = mapped_column(BigInteger, default=0)
    node_us: Mapped[int] = mapped_column(BigInteger, default=0)


_DIMENSIONS = ("kind", "user_name", "user_group", "node_group", "priority", "profile")


class UsageHour(_UsageSums, Base):
    """Use within one hour (``hour`` is its start, UTC) by one combination of dimensions."""

    __tablename__ = "usage_hours"
    __table_args__ = (UniqueConstraint("hour", *_DIMENSIONS),)

    hour: Mapped[dt.datetime] = mapped_column()


class UsageDay(_UsageSums, Base):
    """The same sums per UTC day (``day`` is its midnight): a year is 365 rows per key."""

    __tablename__ = "usage_days"
    __table_args__ = (UniqueConstraint("day", *_DIMENSIONS),)

    day: Mapped[dt.datetime] = mapped_column()


class UsageFolded(Base):
    """A rank whose run time is in ``usage_hours`` already."""

    __tablename__ = "usage_folded"

    rank_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ended_at: Mapped[dt.datetime] = mapped_column(index=True)


class UsageCursor(Base):
    """The fold's progress (a single row, id 1)."""

    __tablename__ = "usage_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ended_through: Mapped[dt.datetime | None] = mapped_column(default=None)
    folded_at: Mapped[dt.datetime | None] = mapped_column(default=None)
