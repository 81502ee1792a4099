"""reporting clock and case-exchange tables (issue 13)

Placeholder in the fixed revision chain; the tables are added by the work on this issue.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00
"""

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
