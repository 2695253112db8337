"""Notifications in the portal, e-mail preferences, followers of a demande, a
structure's shared mailbox; the agent's cockpit indexes (SPEC §6)

Revision ID: 0008
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0011"
branch_labels = None
depends_on = None

_OPEN = "status IN ('transmise', 'prise_en_charge', 'attente_complement')"


def upgrade():
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("text", sa.String(300), nullable=False),
        sa.Column("link", sa.String(300), nullable=False),
        sa.Column("demande_id", sa.Integer(), sa.ForeignKey("demande.id", ondelete="CASCADE"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("digest_pending", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_notification_account_created", "notification", ["account_id", "created_at", "id"])
    op.create_index("ix_notification_unread", "notification", ["account_id", "event"],
                    postgresql_where=sa.text("read_at IS NULL"), sqlite_where=sa.text("read_at IS NULL"))
    op.create_index("ix_notification_digest", "notification", ["account_id"],
                    postgresql_where=sa.text("digest_pending"), sqlite_where=sa.text("digest_pending"))
    op.create_index(op.f("ix_notification_demande_id"), "notification", ["demande_id"])
    op.create_table(
        "notification_preference",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("mode", sa.String(20), nullable=False),
    )
    op.create_table(
        "demande_follower",
        sa.Column("demande_id", sa.Integer(), sa.ForeignKey("demande.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(op.f("ix_demande_follower_account_id"), "demande_follower", ["account_id"])
    # The authors of open demandes follow them, as new authors do (SPEC §6).
    op.execute("INSERT INTO demande_follower (demande_id, account_id, since) "
               "SELECT id, author_id, created_at FROM demande WHERE " + _OPEN)
    op.add_column("partenaire", sa.Column("shared_mailbox", sa.String(254), nullable=False, server_default=""))
    op.add_column("demande", sa.Column("partner_replied_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_demande_open_due", "demande", ["caisse_id", "due_at"],
                    postgresql_where=sa.text(_OPEN + " AND due_at IS NOT NULL"),
                    sqlite_where=sa.text(_OPEN + " AND due_at IS NOT NULL"))
    op.create_index("ix_demande_open_assigned", "demande", ["assigned_to_id"],
                    postgresql_where=sa.text(_OPEN), sqlite_where=sa.text(_OPEN))
    op.create_index("ix_demande_complement", "demande", ["partenaire_id", "author_id"],
                    postgresql_where=sa.text("status = 'attente_complement'"),
                    sqlite_where=sa.text("status = 'attente_complement'"))
    op.create_index("ix_demande_partner_replied", "demande", ["assigned_to_id"],
                    postgresql_where=sa.text("partner_replied_at IS NOT NULL"),
                    sqlite_where=sa.text("partner_replied_at IS NOT NULL"))


def downgrade():
    op.drop_index("ix_demande_partner_replied", table_name="demande")
    op.drop_index("ix_demande_complement", table_name="demande")
    op.drop_index("ix_demande_open_assigned", table_name="demande")
    op.drop_index("ix_demande_open_due", table_name="demande")
    # Not a batch (a copy of the table on SQLite would lose the queue's
    # expression indexes, which SQLite cannot reflect): SQLite ≥ 3.35 drops a column.
    op.drop_column("demande", "partner_replied_at")
    with op.batch_alter_table("partenaire") as batch:
        batch.drop_column("shared_mailbox")
    op.drop_index(op.f("ix_demande_follower_account_id"), table_name="demande_follower")
    op.drop_table("demande_follower")
    op.drop_table("notification_preference")
    op.drop_index(op.f("ix_notification_demande_id"), table_name="notification")
    op.drop_index("ix_notification_digest", table_name="notification")
    op.drop_index("ix_notification_unread", table_name="notification")
    op.drop_index("ix_notification_account_created", table_name="notification")
    op.drop_table("notification")
