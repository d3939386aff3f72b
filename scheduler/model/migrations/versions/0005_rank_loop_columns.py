"""job_ranks: the loop's own per-rank records as columns, out of the backend's handle

master_port, launched, suspend_sent_at, terminating_since, term_sent_at and killed_at were
keys of ``job_ranks.handle`` (master_port, started, suspend_sent, terminating_since,
term_sent, killed) next to the backend's reference; they are moved into columns and
removed from the handle. Downgrade puts them back into the handle.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 14:00:00
"""

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

import scheduler.model.orm

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TIME = scheduler.model.orm.UTCDateTime
_BATCH = 1000
#: handle key -> column, and how a value converts (True and epoch seconds in the handle)
_MOVED = {
    "master_port": ("master_port", int),
    "started": ("launched", bool),
    "suspend_sent": ("suspend_sent_at", lambda v: dt.datetime.now(dt.UTC) if v else None),
    "terminating_since": ("terminating_since", lambda v: dt.datetime.fromtimestamp(v, dt.UTC)),
    "term_sent": ("term_sent_at", lambda v: dt.datetime.fromtimestamp(v, dt.UTC)),
    "killed": ("killed_at", lambda v: dt.datetime.now(dt.UTC) if v else None),
}


def _ranks() -> sa.Table:
    return sa.table(
        "job_ranks",
        sa.column("id", sa.Integer),
        sa.column("handle", sa.JSON),
        sa.column("master_port", sa.Integer),
        sa.column("launched", sa.Boolean),
        *(
            sa.column(col, _TIME())
            for col in ("suspend_sent_at", "terminating_since", "term_sent_at", "killed_at")
        ),
    )


def _decoded(handle: Any) -> dict[str, Any]:
    if isinstance(handle, str):
        handle = json.loads(handle)
    return handle if isinstance(handle, dict) else {}


def upgrade() -> None:
    with op.batch_alter_table("job_ranks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("master_port", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("launched", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        for col in ("suspend_sent_at", "terminating_since", "term_sent_at", "killed_at"):
            batch_op.add_column(sa.Column(col, _TIME(), nullable=True))
    _move_out_of_handles()


def _move_out_of_handles() -> None:
    conn, ranks = op.get_bind(), _ranks()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(ranks.c.id, ranks.c.handle)
            .where(ranks.c.id > last)
            .order_by(ranks.c.id)
            .limit(_BATCH)
        ).fetchall()
        if not rows:
            return
        last = rows[-1].id
        for rank_id, raw in rows:
            handle = _decoded(raw)
            values: dict[str, Any] = {}
            for key, (col, convert) in _MOVED.items():
                if key in handle:
                    values[col] = convert(handle.pop(key))
            if values:
                values["handle"] = handle
                conn.execute(sa.update(ranks).where(ranks.c.id == rank_id).values(**values))


def downgrade() -> None:
    conn, ranks = op.get_bind(), _ranks()
    for row in conn.execute(sa.select(ranks)).fetchall():
        handle = _decoded(row.handle)
        if row.master_port is not None:
            handle["master_port"] = row.master_port
        if row.launched:
            handle["started"] = True
        if row.suspend_sent_at is not None:
            handle["suspend_sent"] = True
        for col, key in (("terminating_since", "terminating_since"), ("term_sent_at", "term_sent")):
            if getattr(row, col) is not None:
                handle[key] = getattr(row, col).timestamp()
        if row.killed_at is not None:
            handle["killed"] = True
        conn.execute(sa.update(ranks).where(ranks.c.id == row.id).values(handle=handle))
    with op.batch_alter_table("job_ranks", schema=None) as batch_op:
        for col in (
            "killed_at",
            "term_sent_at",
            "terminating_since",
            "suspend_sent_at",
            "launched",
            "master_port",
        ):
            batch_op.drop_column(col)
