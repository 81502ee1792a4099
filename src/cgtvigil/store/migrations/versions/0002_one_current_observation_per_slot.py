"""one current observation per slot

The exact-repeat constraint (patient, kind, device, time, value) is replaced by a partial unique
index on the *current* values of a slot (patient, kind, device, time) WHERE NOT superseded:
a correction back to an earlier value is a new row (reliability review D8), and two racing
writers can no longer both leave a current value (D7). Slots that the race already left with
several current values keep the latest one (highest id) current before the index is built.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 20:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SLOT = ["patient_id", "kind", "device", "time"]


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE observation SET superseded = :yes WHERE NOT superseded AND id < ("
            " SELECT max(o2.id) FROM observation o2 WHERE NOT o2.superseded"
            " AND o2.patient_id = observation.patient_id AND o2.kind = observation.kind"
            " AND o2.device = observation.device AND o2.time = observation.time)"
        ).bindparams(yes=True)
    )
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.drop_constraint("uq_observation_repeat", type_="unique")
        batch_op.create_index(
            "uq_observation_current",
            _SLOT,
            unique=True,
            sqlite_where=sa.text("NOT superseded"),
            postgresql_where=sa.text("NOT superseded"),
        )


def downgrade() -> None:
    # A correction back to an earlier value repeats (slot, value): the old constraint cannot
    # hold such rows, and deleting observations is not an option in a safety database.
    repeats = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT count(*) FROM (SELECT 1 FROM observation"
                " GROUP BY patient_id, kind, device, time, value HAVING count(*) > 1) AS r"
            )
        )
        .scalar_one()
    )
    if repeats:
        raise RuntimeError(
            f"Cannot downgrade below 0002: {repeats} slot(s) hold the same value twice (a correction back"
            " to an earlier value), which revision 0001's constraint forbids. Nothing was changed."
        )
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.drop_index("uq_observation_current")
        batch_op.create_unique_constraint("uq_observation_repeat", [*_SLOT, "value"])
