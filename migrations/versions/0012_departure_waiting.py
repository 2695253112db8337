"""A gestionnaire's departure that waits for another active gestionnaire

Revision ID: 0012
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD/DROP COLUMN (SQLite ≥ 3.35 has both), like 0014.
    op.add_column("account", sa.Column("departure_waiting_since", sa.Date(), nullable=True))


def downgrade():
    op.execute("ALTER TABLE account DROP COLUMN departure_waiting_since")
