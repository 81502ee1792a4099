"""signals, their states, evidence and signatures (issue 15)

Placeholder in the fixed revision chain; the tables are added by the work on this issue.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00
"""

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
