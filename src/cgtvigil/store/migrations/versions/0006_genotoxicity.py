"""integration sites, vector copy number and off-target results (issue 12)

Placeholder in the fixed revision chain; the tables are added by the work on this issue.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:00:00
"""

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
