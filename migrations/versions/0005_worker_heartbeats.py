"""Worker and scheduler heartbeats, monitoring incidents; the outbox's batch claim

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "worker_heartbeat",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("queues", sa.String(255), nullable=False),
        sa.Column("state", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", name="uq_worker_heartbeat_name"),
    )
    op.create_index(op.f("ix_worker_heartbeat_seen_at"), "worker_heartbeat", ["seen_at"])
    op.create_table(
        "monitor_incident",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("open_key", sa.String(160), nullable=True),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("open_key", name="uq_monitor_incident_open_key"),
    )
    op.create_index(op.f("ix_monitor_incident_key"), "monitor_incident", ["key"])
    op.add_column("outbox_email", sa.Column("send_started_at", sa.DateTime(timezone=True), nullable=True))
    # The batch claim and the "pending for 10 minutes" check read the oldest
    # pending e-mails: a partial index keeps that read small however many are sent.
    op.create_index("ix_outbox_email_pending", "outbox_email", ["id"],
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))


def downgrade():
    op.drop_index("ix_outbox_email_pending", table_name="outbox_email")
    with op.batch_alter_table("outbox_email") as batch:
        batch.drop_column("send_started_at")
    op.drop_index("ix_monitor_incident_key", table_name="monitor_incident")
    op.drop_table("monitor_incident")
    op.drop_index("ix_worker_heartbeat_seen_at", table_name="worker_heartbeat")
    op.drop_table("worker_heartbeat")
