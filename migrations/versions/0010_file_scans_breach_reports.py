"""Scan state of stored files; suspected data breach reports; the caisse's DPO mailbox

Existing files become ``non_analyse``: nothing recorded whether clamd was
configured when they were uploaded. ``flask ep rescan`` turns them into
``sain`` or ``infecte`` (README, "Sécurité").

Revision ID: 0010
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0012"
branch_labels = None
depends_on = None

SCAN_STATES = ("en_attente", "sain", "infecte", "non_analyse")


def upgrade():
    with op.batch_alter_table("attachment") as batch:
        batch.add_column(sa.Column("scan_status", sa.Enum(*SCAN_STATES, name="scanstatus", native_enum=False,
                                                          length=20),
                                   nullable=False, server_default="non_analyse"))
        batch.add_column(sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("scan_signature", sa.String(200), nullable=False, server_default=""))
        batch.create_index("ix_attachment_scan_status", ["scan_status"])
    with op.batch_alter_table("caisse") as batch:
        batch.add_column(sa.Column("dpo_email", sa.String(254), nullable=False, server_default=""))
    op.create_table(
        "breach_report",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(20), nullable=False),
        sa.Column("caisse_id", sa.Integer(), sa.ForeignKey("caisse.id"), nullable=False),
        sa.Column("partenaire_id", sa.Integer(), sa.ForeignKey("partenaire.id"), nullable=True),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("noticed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("concerned", sa.Text(), nullable=False),
        sa.Column("demande_references", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("qualification", sa.Enum("qualifiee", "non_qualifiee", name="qualification", native_enum=False,
                                           length=20), nullable=True),
        sa.Column("qualification_comment", sa.Text(), nullable=False),
        sa.Column("qualified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("qualified_by_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=True),
        sa.Column("cnil_notified", sa.Boolean(), nullable=True),
        sa.Column("cnil_reason", sa.Text(), nullable=False),
        sa.Column("cnil_decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cnil_decided_by_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=True),
        sa.UniqueConstraint("reference", name="uq_breach_report_reference"),
    )
    op.create_index("ix_breach_report_caisse_id", "breach_report", ["caisse_id"])
    op.create_index("ix_breach_report_partenaire_id", "breach_report", ["partenaire_id"])


def downgrade():
    op.drop_index("ix_breach_report_partenaire_id", table_name="breach_report")
    op.drop_index("ix_breach_report_caisse_id", table_name="breach_report")
    op.drop_table("breach_report")
    with op.batch_alter_table("caisse") as batch:
        batch.drop_column("dpo_email")
    with op.batch_alter_table("attachment") as batch:
        batch.drop_index("ix_attachment_scan_status")
        batch.drop_column("scan_signature")
        batch.drop_column("scanned_at")
        batch.drop_column("scan_status")
