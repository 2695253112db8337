"""Drafts of demandes, saved as the technicien types

Revision ID: 0015
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "demande_draft",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("partenaire_id", sa.Integer(), sa.ForeignKey("partenaire.id", ondelete="CASCADE"), nullable=False),
        sa.Column("service", sa.String(20), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_demande_draft_author", "demande_draft", ["author_id", "updated_at"])
    op.create_index(op.f("ix_demande_draft_updated_at"), "demande_draft", ["updated_at"])


def downgrade():
    op.drop_index(op.f("ix_demande_draft_updated_at"), table_name="demande_draft")
    op.drop_index("ix_demande_draft_author", table_name="demande_draft")
    op.drop_table("demande_draft")
