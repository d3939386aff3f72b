"""usage accounting: hourly and daily rollups, fold ledger and cursor; index on job_ranks.ended_at

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import scheduler.model.orm

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TIME = scheduler.model.orm.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "usage_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hour", _TIME(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_name", sa.String(length=128), nullable=False),
        sa.Column("user_group", sa.String(length=128), nullable=False),
        sa.Column("node_group", sa.String(length=128), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("gpu_us", sa.BigInteger(), nullable=False),
        sa.Column("node_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "hour", "kind", "user_name", "user_group", "node_group", "priority", "profile"
        ),
    )
    with op.batch_alter_table("usage_hours", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_hours_user_name"), ["user_name"], unique=False)
    op.create_table(
        "usage_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", _TIME(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_name", sa.String(length=128), nullable=False),
        sa.Column("user_group", sa.String(length=128), nullable=False),
        sa.Column("node_group", sa.String(length=128), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("gpu_us", sa.BigInteger(), nullable=False),
        sa.Column("node_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "day", "kind", "user_name", "user_group", "node_group", "priority", "profile"
        ),
    )
    with op.batch_alter_table("usage_days", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_days_user_name"), ["user_name"], unique=False)
    op.create_table(
        "usage_folded",
        sa.Column("rank_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ended_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("rank_id"),
    )
    with op.batch_alter_table("usage_folded", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_folded_ended_at"), ["ended_at"], unique=False)
    op.create_table(
        "usage_cursor",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ended_through", _TIME(), nullable=True),
        sa.Column("folded_at", _TIME(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO usage_cursor (id) VALUES (1)")
    # the fold looks for ranks that ended since its cursor
    with op.batch_alter_table("job_ranks", schema=None) as batch_op:
        batch_op.create_index("ix_job_ranks_ended_at", ["ended_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_ranks", schema=None) as batch_op:
        batch_op.drop_index("ix_job_ranks_ended_at")
    op.drop_table("usage_cursor")
    with op.batch_alter_table("usage_folded", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_folded_ended_at"))
    op.drop_table("usage_folded")
    with op.batch_alter_table("usage_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_days_user_name"))
    op.drop_table("usage_days")
    with op.batch_alter_table("usage_hours", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_hours_user_name"))
    op.drop_table("usage_hours")
