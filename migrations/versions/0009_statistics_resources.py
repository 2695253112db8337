"""Statistics rollups, information sessions, shared resources

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

DELAY_BUCKETS = 15
MEASURES = (["created", "closed", "taken", "complements", "sla_met", "sla_missed", "moved_in", "moved_out"]
            + [f"close_d{i}" for i in range(DELAY_BUCKETS)] + [f"first_d{i}" for i in range(DELAY_BUCKETS)])


def _rollup_columns(period: str):
    return [
        sa.Column(period, sa.Date(), primary_key=True),
        sa.Column("caisse_id", sa.Integer(), primary_key=True),
        sa.Column("partenaire_id", sa.Integer(), primary_key=True),
        sa.Column("service", sa.String(20), primary_key=True),
        sa.Column("outcome", sa.String(40), primary_key=True),
        *[sa.Column(m, sa.Integer(), nullable=False) for m in MEASURES],
    ]


def upgrade():
    op.create_table("stat_day", *_rollup_columns("day"))
    op.create_index("ix_stat_day_caisse", "stat_day", ["caisse_id", "day"])
    op.create_index("ix_stat_day_partenaire", "stat_day", ["partenaire_id", "day"])
    op.create_table("stat_month", *_rollup_columns("month"))
    op.create_index("ix_stat_month_caisse", "stat_month", ["caisse_id", "partenaire_id", "month"])
    op.create_index("ix_stat_month_partenaire", "stat_month", ["partenaire_id", "month"])
    op.create_table(
        "stat_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rolled_through", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "information_session",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("caisse_id", sa.Integer(), sa.ForeignKey("caisse.id"), nullable=False),
        sa.Column("partenaire_id", sa.Integer(), sa.ForeignKey("partenaire.id"), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("staff_trained", sa.Integer(), nullable=False),
        sa.Column("resource_ids", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_information_session_scope", "information_session", ["caisse_id", "partenaire_id", "held_on"])
    op.create_index(op.f("ix_information_session_partenaire_id"), "information_session", ["partenaire_id"])
    op.create_table(
        "resource",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("caisse_id", sa.Integer(), sa.ForeignKey("caisse.id"), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("version", sa.String(30), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_resource_caisse", "resource", ["caisse_id", "category"])
    op.create_table(
        "resource_subscription",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("attachment") as batch:
        batch.add_column(sa.Column("resource_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_attachment_resource_id_resource", "resource", ["resource_id"], ["id"],
                                 ondelete="CASCADE")
        batch.create_index(batch.f("ix_attachment_resource_id"), ["resource_id"])
    op.create_index("ix_demande_created_at", "demande", ["created_at"])
    op.create_index("ix_demande_taken_at", "demande", ["taken_at"])
    op.create_index("ix_demande_due_at", "demande", ["due_at"])
    op.create_index("ix_demande_event_kind_at", "demande_event", ["kind", "at"])


def downgrade():
    op.drop_index("ix_demande_event_kind_at", table_name="demande_event")
    op.drop_index("ix_demande_due_at", table_name="demande")
    op.drop_index("ix_demande_taken_at", table_name="demande")
    op.drop_index("ix_demande_created_at", table_name="demande")
    with op.batch_alter_table("attachment") as batch:
        batch.drop_index(batch.f("ix_attachment_resource_id"))
        batch.drop_constraint("fk_attachment_resource_id_resource", type_="foreignkey")
        batch.drop_column("resource_id")
    op.drop_table("resource_subscription")
    op.drop_index("ix_resource_caisse", table_name="resource")
    op.drop_table("resource")
    op.drop_index(op.f("ix_information_session_partenaire_id"), table_name="information_session")
    op.drop_index("ix_information_session_scope", table_name="information_session")
    op.drop_table("information_session")
    op.drop_table("stat_state")
    op.drop_index("ix_stat_month_partenaire", table_name="stat_month")
    op.drop_index("ix_stat_month_caisse", table_name="stat_month")
    op.drop_table("stat_month")
    op.drop_index("ix_stat_day_partenaire", table_name="stat_day")
    op.drop_index("ix_stat_day_caisse", table_name="stat_day")
    op.drop_table("stat_day")
