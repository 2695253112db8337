"""Indexes for the caisse queue's order and the name search

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

OPEN = "status IN ('transmise', 'prise_en_charge', 'attente_complement')"
ORDER = [sa.text("urgent DESC"), sa.text("(due_at IS NULL)"), "due_at", "created_at", "id"]


def upgrade():
    op.drop_index("ix_demande_partenaire_created", table_name="demande")
    op.create_index("ix_demande_partenaire_created", "demande", ["partenaire_id", "created_at", "id"],
                    postgresql_include=["caisse_id", "service", "status", "author_id", "nom_search"])
    op.drop_index("ix_demande_caisse_queue", table_name="demande")
    op.create_index("ix_demande_queue_open", "demande", ["caisse_id", *ORDER],
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN),
                    postgresql_include=["status", "service", "assigned_to_id", "nom_search"])
    op.create_index("ix_demande_queue_status", "demande", ["caisse_id", "status", *ORDER],
                    postgresql_include=["service", "assigned_to_id", "nom_search"])
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index("ix_demande_nom_trgm", "demande", ["nom_search"], postgresql_using="gin",
                        postgresql_ops={"nom_search": "gin_trgm_ops"})
        # An author belongs to one structure, a structure mostly to one caisse:
        # without these statistics the planner multiplies the selectivities as
        # if independent and picks bitmap plans 1000 times slower (bench/pages.py).
        op.execute("CREATE STATISTICS IF NOT EXISTS demande_scope_stats (dependencies, ndistinct) "
                   "ON partenaire_id, caisse_id, author_id FROM demande")
    else:
        op.create_index("ix_demande_nom_trgm", "demande", ["nom_search"])


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS demande_scope_stats")
    op.drop_index("ix_demande_nom_trgm", table_name="demande")
    op.drop_index("ix_demande_queue_status", table_name="demande")
    op.drop_index("ix_demande_queue_open", table_name="demande")
    op.create_index("ix_demande_caisse_queue", "demande", ["caisse_id", "status", "urgent", "due_at"])
    op.drop_index("ix_demande_partenaire_created", table_name="demande")
    op.create_index("ix_demande_partenaire_created", "demande", ["partenaire_id", "created_at"])
