"""The outbox claim names its process (host:pid), so that the claims of a
worker killed on this machine are recovered at once instead of after the
claim timeout

Revision ID: 0013
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("outbox_email", sa.Column("claimed_by", sa.String(120), nullable=True))


def downgrade():
    with op.batch_alter_table("outbox_email") as batch:
        batch.drop_column("claimed_by")
