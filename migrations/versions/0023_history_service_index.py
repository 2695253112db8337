"""History filtered by service: an index per (structure, service) in the
history's order

Revision ID: 0023
Revises: 0022

With a service chosen, the history's capped count, its rows and a name
search's probe read the structure's index (partenaire_id, created_at, id)
and tested each entry's service: a service holds a fifth to a twentieth of a
structure's demandes, so a count that stops at COUNT_CAP + 1 matches read
five to twenty times as many entries (bench12_5m, largest structure:
?service=contact&q=mar 44 000 entries, 6.7 ms; ?service=document
&status=cloturee&q=mar 77 000 entries, 16 ms; ?service=suivi_ame&q=dub's
probe 38 000 entries for its 2 000). This index holds the same entries with
the service after the structure: each reads its service's entries alone.
"""
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    # if_not_exists: a bench database where it was built by hand keeps it.
    op.create_index("ix_demande_partenaire_service", "demande", ["partenaire_id", "service", "created_at", "id"],
                    postgresql_include=["caisse_id", "status", "author_id", "nom_search"], if_not_exists=True)


def downgrade():
    op.drop_index("ix_demande_partenaire_service", table_name="demande")
