"""users: disabled flag, system account, uid and gid; token expiry

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 15:30:00
"""

import sqlalchemy as sa
from alembic import op

import scheduler.model.orm

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("system_user", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("uid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("gid", sa.Integer(), nullable=True))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expires_at", scheduler.model.orm.UTCDateTime(), nullable=True)
        )
    # the ids a user's pods run as (UID_BASE + row id; admins may change them)
    op.execute("UPDATE users SET uid = 100000 + id, gid = 100000 + id")


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("gid")
        batch_op.drop_column("uid")
        batch_op.drop_column("system_user")
        batch_op.drop_column("disabled")
