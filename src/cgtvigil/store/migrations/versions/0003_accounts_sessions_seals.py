"""accounts, server-side sessions, log-in throttling and row seals

Issue 10 items 3-5 and 7: sessions live on the server (``web_session``), failed log-ins are
throttled per client address and per account name (``login_throttle``, replacing the
per-user lock-out columns that let anyone lock any account), users set their own password
with a one-time code (``account_token``), and every security-relevant row carries a keyed
seal written by the application, so that an edit behind its back shows in ``audit verify``.
Rows written before this revision have no seal; ``audit verify`` reports them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SEALED = ("app_user", "gateway", "patient", "treatment", "alert", "alert_event")


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("id_sha256", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_why", sa.String(length=32), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(["username"], ["app_user.username"]),
        sa.PrimaryKeyConstraint("id_sha256"),
    )
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_session_username"), ["username"], unique=False)
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure", sa.DateTime(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "account_token",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["username"], ["app_user.username"]),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    with op.batch_alter_table("account_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_token_username"), ["username"], unique=False)
    for table in _SEALED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("seal", sa.String(length=64), nullable=True))
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_changed_at", sa.DateTime(), nullable=True))
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_attempts")


def downgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))
        batch_op.drop_column("password_changed_at")
    for table in _SEALED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("seal")
    op.drop_table("account_token")
    op.drop_table("login_throttle")
    op.drop_table("web_session")
