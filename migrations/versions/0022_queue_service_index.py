"""The queue filtered by service: an index per (caisse, service, status) in
the queue's order

Revision ID: 0022
Revises: 0021

With a service chosen, the queue's capped count of each status, its rows of
one status and a name search's probe read the caisse's index of that status
(ix_demande_queue_status) and tested each entry's service. For a service
that is rare, or sorted last (no deadline: documents, appointments), the
test rejected 112 000 to 300 000 entries of the largest caisse's closed
demandes (bench12_5m, in-process, load 2-3: /traitement?service=suivi_ame
39-50 ms, ?service=document 34-50 ms, ?service=document&statut=cloturee
19-22 ms, ?service=suivi_ame&q=mar 62-72 ms). This index holds the same
entries with the service first: each reads its matches alone (8-17 ms,
most of it the page's fixed cost). 438 MB at 5 M demandes (the status index
is 443 MB), built in 11 s.
"""
import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

ORDER = [sa.text("urgent DESC"), sa.text("(due_at IS NULL)"), "due_at", "created_at", "id"]


def upgrade():
    # if_not_exists: a bench database where it was built by hand keeps it.
    op.create_index("ix_demande_queue_service", "demande", ["caisse_id", "service", "status", *ORDER],
                    postgresql_include=["assigned_to_id", "nom_search"], if_not_exists=True)


def downgrade():
    op.drop_index("ix_demande_queue_service", table_name="demande")
