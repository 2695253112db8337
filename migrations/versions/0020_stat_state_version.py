"""Statistics: stat_state.version, a random number set anew by every write to
the stat tables (ep_web.domain.statistics: the rollup and the repairs), so
that a process may keep the sums of rolled days it has read, keyed by it
(issue 14 §3, p95 ≤ 50 ms at 5 M demandes)

Revision ID: 0020
Revises: 0019

Random, not a counter: a write rolled back never leaves behind a number that
a later write could take again with other figures.
"""
import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("stat_state") as batch_op:
        batch_op.add_column(sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("stat_state") as batch_op:
        batch_op.drop_column("version")
