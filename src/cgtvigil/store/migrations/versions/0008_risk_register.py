"""risk register, measures and REMS/RMP elements (issue 15)

Every version of a product's risk register is kept whole (``risk_register_version``: the
document with its SHA-256, who wrote it, when and on which basis); ``risk_change`` lists what
each version changed risk by risk, with the validated signal that caused it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_register_version",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("basis", sa.String(length=128), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("product_id", "version", name="uq_risk_register_version"),
    )
    with op.batch_alter_table("risk_register_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_register_version_product_id"), ["product_id"], unique=False)
    op.create_table(
        "risk_change",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("risk_key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("rationale", sa.String(length=2000), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["risk_register_version.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("risk_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_change_version_id"), ["version_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_risk_change_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_risk_change_signal_id"), ["signal_id"], unique=False)


def downgrade() -> None:
    op.drop_table("risk_change")
    op.drop_table("risk_register_version")
