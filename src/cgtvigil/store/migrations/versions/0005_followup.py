"""long-term follow-up: sites, follow-up details of patients, plans and visits, yearly forms,
new-malignancy work-ups, consent records and states, transition tasks and transfers (issue 12)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ltfu_site",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("country", sa.String(length=8), nullable=False),
        sa.Column("jurisdiction", sa.String(length=16), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("care", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("site"),
    )
    op.create_table(
        "consent",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("use", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("signer", sa.String(length=16), nullable=False),
        sa.Column("form_version", sa.String(length=64), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=512), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "consent_state",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("use", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("patient_id", "use"),
    )
    with op.batch_alter_table("consent_state", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_state_state"), ["state"], unique=False)

    op.create_table(
        "ltfu_patient",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("race", sa.String(length=64), nullable=True),
        sa.Column("ethnicity", sa.String(length=64), nullable=True),
        sa.Column("distance_km", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_since", sa.Date(), nullable=True),
        sa.Column("death_cause", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("patient_id"),
    )
    op.create_table(
        "ltfu_task",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("element", sa.Integer(), nullable=True),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("approximate", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "kind", name="uq_ltfu_task_kind"),
    )
    with op.batch_alter_table("ltfu_task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ltfu_task_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ltfu_task_status"), ["status"], unique=False)

    op.create_table(
        "ltfu_transfer",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("from_site", sa.String(length=64), nullable=False),
        sa.Column("to_site", sa.String(length=64), nullable=False),
        sa.Column("from_jurisdiction", sa.String(length=16), nullable=True),
        sa.Column("to_jurisdiction", sa.String(length=16), nullable=True),
        sa.Column("moved_on", sa.Date(), nullable=False),
        sa.Column("sending_access", sa.String(length=8), nullable=False),
        sa.Column("read_until", sa.Date(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ltfu_transfer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ltfu_transfer_from_site"), ["from_site"], unique=False)
        batch_op.create_index(batch_op.f("ix_ltfu_transfer_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "ltfu_plan",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("treatment_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=False),
        sa.Column("years", sa.Integer(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("unconfirmed", sa.Boolean(), nullable=False),
        sa.Column("rule_version", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["treatment_id"],
            ["treatment.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("treatment_id", name="uq_ltfu_plan_treatment"),
    )
    with op.batch_alter_table("ltfu_plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ltfu_plan_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "ltfu_visit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("opens", sa.Date(), nullable=False),
        sa.Column("closes", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("contact", sa.String(length=16), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("rule_version", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["ltfu_plan.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ltfu_visit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ltfu_visit_due"), ["due"], unique=False)
        batch_op.create_index(batch_op.f("ix_ltfu_visit_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ltfu_visit_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ltfu_visit_state"), ["state"], unique=False)

    op.create_table(
        "ltfu_form",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("form_version", sa.String(length=32), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["ltfu_visit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ltfu_form", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ltfu_form_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ltfu_form_visit_id"), ["visit_id"], unique=False)

    op.create_table(
        "ltfu_malignancy",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("diagnosis", sa.String(length=256), nullable=False),
        sa.Column("diagnosed_on", sa.Date(), nullable=True),
        sa.Column("haematologic", sa.Boolean(), nullable=False),
        sa.Column("tissue", sa.String(length=16), nullable=False),
        sa.Column("tissue_requested_at", sa.DateTime(), nullable=False),
        sa.Column("tissue_result_at", sa.DateTime(), nullable=True),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("case_json", sa.Text(), nullable=False),
        sa.Column("case_filed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["form_id"],
            ["ltfu_form.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
    )
    with op.batch_alter_table("ltfu_malignancy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ltfu_malignancy_patient_id"), ["patient_id"], unique=False)


def downgrade() -> None:
    op.drop_table("ltfu_malignancy")
    op.drop_table("ltfu_form")
    op.drop_table("ltfu_visit")
    op.drop_table("ltfu_plan")
    op.drop_table("ltfu_transfer")
    op.drop_table("ltfu_task")
    op.drop_table("ltfu_patient")
    op.drop_table("consent_state")
    op.drop_table("consent")
    op.drop_table("ltfu_site")
