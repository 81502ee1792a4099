"""case submissions with their acknowledgements, cross-source duplicate candidates (issue 13)

``case_submission``: a case version sent in an E2B(R3) batch and the acknowledgement received
for it (stops its reporting clock). ``case_match``: two cases of different sources that may be
one, with score, field agreement and a person's decision.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_submission",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=128), nullable=False),
        sa.Column("safety_report_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.String(length=128), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("submitted_by", sa.String(length=64), nullable=False),
        sa.Column("ack_code", sa.String(length=8), nullable=True),
        sa.Column("ack_batch_code", sa.String(length=8), nullable=True),
        sa.Column("ack_detail", sa.String(length=2000), nullable=True),
        sa.Column("ack_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_submission", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_submission_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_submission_safety_report_id"), ["safety_report_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_submission_batch_id"), ["batch_id"], unique=False)
    op.create_table(
        "case_match",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_a", sa.String(length=128), nullable=False),
        sa.Column("source_a", sa.String(length=16), nullable=False),
        sa.Column("case_b", sa.String(length=128), nullable=False),
        sa.Column("source_b", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("found_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_a", "case_b", name="uq_case_match_pair"),
    )
    with op.batch_alter_table("case_match", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_match_case_a"), ["case_a"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_match_case_b"), ["case_b"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_match_status"), ["status"], unique=False)


def downgrade() -> None:
    op.drop_table("case_match")
    op.drop_table("case_submission")
