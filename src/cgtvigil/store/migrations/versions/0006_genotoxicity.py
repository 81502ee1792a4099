"""integration sites, vector copy number and off-target results (issue 12)

Integration-site samples and their sites (one row per IS, sample and quantification), input
rows quarantined with a reason, vector copy number and CAR-transgene persistence measurements,
and off-target editing assay results.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "genotox_sample",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("sample", sa.String(length=128), nullable=False),
        sa.Column("time_point", sa.String(length=32), nullable=False),
        sa.Column("months", sa.Float(), nullable=False),
        sa.Column("cell_type", sa.String(length=64), nullable=False),
        sa.Column("tissue", sa.String(length=64), nullable=False),
        sa.Column("genome", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "sample", name="uq_genotox_sample"),
    )
    with op.batch_alter_table("genotox_sample", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_genotox_sample_patient_id"), ["patient_id"], unique=False)
    op.create_table(
        "genotox_site",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("quantification", sa.String(length=32), nullable=False),
        sa.Column("chr", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("strand", sa.String(length=1), nullable=False),
        sa.Column("nearest_gene", sa.String(length=128), nullable=False),
        sa.Column("gene_strand", sa.String(length=1), nullable=False),
        sa.Column("abundance", sa.Float(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["sample_id"], ["genotox_sample.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sample_id", "quantification", "chr", "position", "strand", name="uq_genotox_site"),
    )
    with op.batch_alter_table("genotox_site", schema=None) as batch_op:
        batch_op.create_index("ix_genotox_site_locus", ["chr", "position"], unique=False)
        batch_op.create_index(batch_op.f("ix_genotox_site_sample_id"), ["sample_id"], unique=False)
    op.create_table(
        "genotox_quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=1024), nullable=False),
        sa.Column("raw", sa.String(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "genotox_vector_measurement",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("months", sa.Float(), nullable=False),
        sa.Column("measured_on", sa.Date(), nullable=True),
        sa.Column("cell_type", sa.String(length=64), nullable=False),
        sa.Column("sample", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "kind", "months", "cell_type", "sample", name="uq_genotox_vector"),
    )
    with op.batch_alter_table("genotox_vector_measurement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_genotox_vector_measurement_patient_id"), ["patient_id"], unique=False)
    op.create_table(
        "genotox_off_target",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("assay", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=128), nullable=False),
        sa.Column("gene", sa.String(length=128), nullable=False),
        sa.Column("indel_percent", sa.Float(), nullable=True),
        sa.Column("detection_limit_percent", sa.Float(), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("measured_on", sa.Date(), nullable=True),
        sa.Column("months", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("genotox_off_target", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_genotox_off_target_patient_id"), ["patient_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("genotox_off_target", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_genotox_off_target_patient_id"))
    op.drop_table("genotox_off_target")
    with op.batch_alter_table("genotox_vector_measurement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_genotox_vector_measurement_patient_id"))
    op.drop_table("genotox_vector_measurement")
    op.drop_table("genotox_quarantine")
    with op.batch_alter_table("genotox_site", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_genotox_site_sample_id"))
        batch_op.drop_index("ix_genotox_site_locus")
    op.drop_table("genotox_site")
    with op.batch_alter_table("genotox_sample", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_genotox_sample_patient_id"))
    op.drop_table("genotox_sample")
