"""History filtered by one open status: an index per (structure, status) in
the history's order, over the open demandes only

Revision ID: 0021
Revises: 0020

The history's capped count of an open status (transmise, prise en charge,
attente de complément) read the structure's index (partenaire_id,
created_at, id) and tested each entry's status: every entry of the structure
when it holds fewer than COUNT_CAP + 1 of them, so the count grew with the
structure (bench/run.py's largest structure, ``/demandes?status=transmise``:
57 000 entries read, 7 ms at 1 M demandes; 284 000 entries, 35 ms at 5 M).
The open demandes are a few per cent of the table (4 % at 5 M), so the index
holds those only; a structure's closed demandes, most of them, keep reading
the index above, where the test of the status rejects few entries.
"""
import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

OPEN_SQL = "status IN ('transmise', 'prise_en_charge', 'attente_complement')"


def upgrade():
    op.create_index("ix_demande_partenaire_open", "demande", ["partenaire_id", "status", "created_at", "id"],
                    postgresql_include=["caisse_id", "service", "author_id", "nom_search"],
                    postgresql_where=sa.text(OPEN_SQL), sqlite_where=sa.text(OPEN_SQL))


def downgrade():
    op.drop_index("ix_demande_partenaire_open", table_name="demande")
