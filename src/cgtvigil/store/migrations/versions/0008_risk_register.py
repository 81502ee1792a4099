"""risk register, measures and REMS/RMP elements (issue 15)

Placeholder in the fixed revision chain; the tables are added by the work on this issue.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:00:00
"""

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
