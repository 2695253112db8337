"""A closed demande kept past the retention period by the caisse, with a reason

Revision ID: 0014
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD/DROP COLUMN (SQLite ≥ 3.35 has both): a batch copy of the demande
    # table would lose its partial indexes on SQLite.
    op.add_column("demande", sa.Column("retained_until", sa.Date(), nullable=True))
    op.add_column("demande", sa.Column("retention_reason", sa.Text(), nullable=False, server_default=""))


def downgrade():
    op.execute("ALTER TABLE demande DROP COLUMN retention_reason")
    op.execute("ALTER TABLE demande DROP COLUMN retained_until")
