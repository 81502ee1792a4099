"""stored periodic reports and dossiers, their shares, and seals on the signal workflow (issue 15)

``periodic_report``: a generated PBRER/PSUR, DSUR or signal assessment dossier kept whole (the
HTML and the PDF with their SHA-256), with the spec it was made from and its hash, and the
named inputs (store snapshots, register versions, the signal table) and their hash.
``periodic_report_share``: the regulator reviewers a sponsor shared a report with. The signal
tables (``signal``, ``signal_event``, ``signal_evidence``, ``signal_share``) get the ``seal``
column of the security-relevant tables, so that a state or a transition changed with SQL shows
in ``audit verify``; rows written before this revision have no seal and are reported so.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 04:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_SEALED = ("signal", "signal_event", "signal_evidence", "signal_share")


def upgrade() -> None:
    op.create_table(
        "periodic_report",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("products", sa.String(length=512), nullable=False),
        sa.Column("data_lock_point", sa.Date(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("spec_sha256", sa.String(length=64), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("inputs_sha256", sa.String(length=64), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("html_sha256", sa.String(length=64), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("seal", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("periodic_report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_periodic_report_spec_sha256"), ["spec_sha256"], unique=False)
    op.create_table(
        "periodic_report_share",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("shared_at", sa.DateTime(), nullable=False),
        sa.Column("shared_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("seal", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["periodic_report.id"]),
        sa.ForeignKeyConstraint(["reviewer"], ["app_user.username"]),
        sa.PrimaryKeyConstraint("report_id", "reviewer"),
    )
    for table in _SEALED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("seal", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in _SEALED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("seal")
    op.drop_table("periodic_report_share")
    with op.batch_alter_table("periodic_report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_periodic_report_spec_sha256"))
    op.drop_table("periodic_report")
