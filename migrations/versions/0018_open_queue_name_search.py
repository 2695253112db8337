"""Name search in a caisse's open queue (PostgreSQL): one GIN entry per
(caisse, status, trigram) over the open demandes only

Revision ID: 0018
Revises: 0017

The queue searched its open demandes by reading them all in the queue's order
(ix_demande_queue_open, testing each name): one status count or one page of a
rare name read the whole open queue of the caisse, so it grew with it
(bench/run.py: 4 400 open demandes at 1 M for the largest caisse, 22 000 at
5 M). ``ep_scoped_trgm(scope, status, name)`` prefixes each trigram with the
caisse and the status ("1:transmise:dub"), and the index holds the open
demandes only (the few per cent of the table a queue works on): a status
count or a page of a rare name reads the entries of its own matches
(ep_web.domain.demandes.name_matches). SQLite (the quick start) keeps reading
the queue in order.
"""
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

OPEN_SQL = "status IN ('transmise', 'prise_en_charge', 'attente_complement')"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    schema = op.get_bind().exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'").scalar()
    # Immutable, and qualified: index builds and ANALYZE may run with an empty search_path.
    op.execute(f"""
        CREATE OR REPLACE FUNCTION ep_scoped_trgm(scope integer, status text, name text) RETURNS text[]
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
            SELECT pg_catalog.string_to_array(
                scope::text || ':' || status || ':' || pg_catalog.array_to_string(
                    "{schema}".show_trgm(name), '|' || scope::text || ':' || status || ':'),
                '|')
        $$""")
    op.execute("CREATE INDEX IF NOT EXISTS ix_demande_queue_open_trgm ON demande "
               f"USING gin (ep_scoped_trgm(caisse_id, status, nom_search)) WHERE {OPEN_SQL}")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_demande_queue_open_trgm")
    op.execute("DROP FUNCTION IF EXISTS ep_scoped_trgm(integer, text, text)")
