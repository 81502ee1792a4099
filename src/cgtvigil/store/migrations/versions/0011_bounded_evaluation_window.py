"""bounded evaluation window

A patient's evaluation reads the observations of one window (patient, time >= since): the
index (patient_id, time) makes that read a range of the window, where the single-column
indexes scanned every observation of the patient (or of every patient since ``since``), so the
cost of an evaluation grew with the patient's history. The index (patient_id, kind, time) reads
one kind of a patient (the ANC values since day 0 of the running early ICAHT) without the
streamed vitals of the same days. The index (patient_id, rule, status) finds the
active alert of a rule without reading the patient's other, resolved alerts.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 05:50:00
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.create_index("ix_observation_patient_time", ["patient_id", "time"], unique=False)
        batch_op.create_index("ix_observation_patient_kind_time", ["patient_id", "kind", "time"], unique=False)
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index("ix_alert_patient_rule_status", ["patient_id", "rule", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_patient_rule_status")
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.drop_index("ix_observation_patient_kind_time")
        batch_op.drop_index("ix_observation_patient_time")
