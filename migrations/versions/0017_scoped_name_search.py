"""Name search by scoped trigrams (PostgreSQL): one GIN entry per (structure,
trigram) and per (caisse, trigram), so a search reads the posting list of
its own structure or caisse only

Revision ID: 0017
Revises: 0016

The composite GIN indexes of 0011 (btree_gin on the scope + pg_trgm on the
name) hold one entry for the structure (every one of its demandes) and one
per trigram (every demande of the country holding it): the scan intersects
both, and its cost grows with the table (bench/run.py, 5 M demandes: 25–30 ms
before reading a single row). ``ep_scoped_trgm(scope, name)`` prefixes each
trigram pg_trgm extracts with the scope ("13404:dub"): a search's entries are
exactly its structure's (or caisse's) demandes holding those trigrams. The
application asks for them (ep_web.domain.demandes.name_matches) on top of the
exact test of the name; the composite indexes of 0011 go (the planner kept
intersecting them with the new ones). SQLite (the quick start) keeps its plain
indexes.
"""
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    schema = op.get_bind().exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'").scalar()
    # Immutable, and qualified: index builds and ANALYZE may run with an empty search_path.
    op.execute(f"""
        CREATE OR REPLACE FUNCTION ep_scoped_trgm(scope integer, name text) RETURNS text[]
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
            SELECT pg_catalog.string_to_array(
                scope::text || ':' || pg_catalog.array_to_string("{schema}".show_trgm(name), '|' || scope::text || ':'),
                '|')
        $$""")
    # IF NOT EXISTS: a database where they were built by hand keeps them.
    op.execute("CREATE INDEX IF NOT EXISTS ix_demande_partenaire_scoped_trgm ON demande "
               "USING gin (ep_scoped_trgm(partenaire_id, nom_search))")
    op.execute("CREATE INDEX IF NOT EXISTS ix_demande_caisse_scoped_trgm ON demande "
               "USING gin (ep_scoped_trgm(caisse_id, nom_search))")
    # The composite trigram indexes of 0011: the planner would still intersect
    # them (a whole structure's or caisse's entries) with the scoped ones.
    op.drop_index("ix_demande_partenaire_nom_trgm", table_name="demande")
    op.drop_index("ix_demande_caisse_nom_trgm", table_name="demande")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index("ix_demande_partenaire_nom_trgm", "demande", ["partenaire_id", "nom_search"],
                    postgresql_using="gin", postgresql_ops={"nom_search": "gin_trgm_ops"})
    op.create_index("ix_demande_caisse_nom_trgm", "demande", ["caisse_id", "nom_search"],
                    postgresql_using="gin", postgresql_ops={"nom_search": "gin_trgm_ops"})
    op.execute("DROP INDEX IF EXISTS ix_demande_caisse_scoped_trgm")
    op.execute("DROP INDEX IF EXISTS ix_demande_partenaire_scoped_trgm")
    op.execute("DROP FUNCTION IF EXISTS ep_scoped_trgm(integer, text)")
