"""Server-side sessions (one row per login, ended on logout, password change,
inactivation, "fermer"); the account's session nonce goes

Revision ID: 0006
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(200), nullable=False),
        sa.Column("ip_prefix", sa.String(64), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(20), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], name=op.f("fk_user_session_account_id_account"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_session_token_hash")),
    )
    op.create_index("ix_user_session_account_open", "user_session", ["account_id", "ended_at"])
    # Every session before this revision lived in the cookie only: they end
    # with the column (their users log in again once).
    with op.batch_alter_table("account") as batch:
        batch.drop_column("session_nonce")


def downgrade():
    with op.batch_alter_table("account") as batch:
        batch.add_column(sa.Column("session_nonce", sa.String(32), nullable=False, server_default=""))
    op.drop_index("ix_user_session_account_open", table_name="user_session")
    op.drop_table("user_session")
