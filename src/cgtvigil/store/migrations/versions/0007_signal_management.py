"""signals, their timeline (signed transitions, re-screens, shares), evidence and shares (issue 15)

GVP Module IX signal management: ``signal`` (state, outcome, owner, due date of the current
state with the version of the timelines it came from, the flag of a re-screen, the link to a
risk of the register), ``signal_event`` (every transition with the meaning of its electronic
signature and the audit entry that records it), ``signal_evidence`` (screen rows with their
spec and snapshot, case lists, alerts, literature, documents) and ``signal_share`` (the
regulator reviewers a sponsor shared a signal with).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("product_id", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=256), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("source_ref", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("state_since", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("timelines_version", sa.String(length=64), nullable=False),
        sa.Column("flag", sa.String(length=512), nullable=False),
        sa.Column("risk_ref", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("signal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signal_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_signal_state"), ["state"], unique=False)
    op.create_table(
        "signal_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("rationale", sa.String(length=4000), nullable=False),
        sa.Column("meaning", sa.String(length=32), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["signal_id"], ["signal.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("signal_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signal_event_signal_id"), ["signal_id"], unique=False)
    op.create_table(
        "signal_evidence",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("reference", sa.String(length=512), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("spec_hash", sa.String(length=64), nullable=False),
        sa.Column("snapshot", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("patient_level", sa.Boolean(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["signal_id"], ["signal.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("signal_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signal_evidence_signal_id"), ["signal_id"], unique=False)
    op.create_table(
        "signal_share",
        sa.Column("signal_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("shared_at", sa.DateTime(), nullable=False),
        sa.Column("shared_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["reviewer"], ["app_user.username"]),
        sa.ForeignKeyConstraint(["signal_id"], ["signal.id"]),
        sa.PrimaryKeyConstraint("signal_id", "reviewer"),
    )


def downgrade() -> None:
    op.drop_table("signal_share")
    op.drop_table("signal_evidence")
    op.drop_table("signal_event")
    op.drop_table("signal")
