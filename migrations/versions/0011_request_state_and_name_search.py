"""The per-request state in one row (maintenance token bumped by triggers);
name search indexes that stop early (composite trigram GIN per structure and
per caisse, btree_gin)

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

PG_BUMP = """
CREATE FUNCTION ep_bump_maintenance_token() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO app_state (id, maintenance_token) VALUES (1, md5(random()::text || clock_timestamp()::text))
    ON CONFLICT (id) DO UPDATE SET maintenance_token = excluded.maintenance_token;
    RETURN NULL;
END $$
"""
SQLITE_BUMP = """
CREATE TRIGGER maintenance_window_bump_{event} AFTER {event} ON maintenance_window
BEGIN
    INSERT OR REPLACE INTO app_state (id, maintenance_token) VALUES (1, lower(hex(randomblob(16))));
END
"""


def upgrade():
    op.create_table(
        "app_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("maintenance_token", sa.String(40), nullable=False),
    )
    op.execute("INSERT INTO app_state (id, maintenance_token) VALUES (1, 'initial')")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_BUMP)
        op.execute("CREATE TRIGGER maintenance_window_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                   "ON maintenance_window FOR EACH STATEMENT EXECUTE FUNCTION ep_bump_maintenance_token()")
        # btree_gin lets one GIN index hold the structure (or caisse) and the
        # name's trigrams: a search reads the matching entries of that
        # structure only, instead of every match in the country ANDed with
        # every demande of the structure. Trusted extension (PostgreSQL 13+).
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
        op.drop_index("ix_demande_nom_trgm", table_name="demande")
        op.drop_index("ix_demande_partenaire_nom", table_name="demande")
        op.create_index("ix_demande_partenaire_nom_trgm", "demande", ["partenaire_id", "nom_search"],
                        postgresql_using="gin", postgresql_ops={"nom_search": "gin_trgm_ops"})
        op.create_index("ix_demande_caisse_nom_trgm", "demande", ["caisse_id", "nom_search"],
                        postgresql_using="gin", postgresql_ops={"nom_search": "gin_trgm_ops"})
    else:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(SQLITE_BUMP.format(event=event))
        # SQLite (the quick start) keeps plain indexes under the same names.
        op.drop_index("ix_demande_nom_trgm", table_name="demande")
        op.drop_index("ix_demande_partenaire_nom", table_name="demande")
        op.create_index("ix_demande_partenaire_nom_trgm", "demande", ["partenaire_id", "nom_search"])
        op.create_index("ix_demande_caisse_nom_trgm", "demande", ["caisse_id", "nom_search"])


def downgrade():
    op.drop_index("ix_demande_caisse_nom_trgm", table_name="demande")
    op.drop_index("ix_demande_partenaire_nom_trgm", table_name="demande")
    op.create_index("ix_demande_partenaire_nom", "demande", ["partenaire_id", "nom_search"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_demande_nom_trgm", "demande", ["nom_search"], postgresql_using="gin",
                        postgresql_ops={"nom_search": "gin_trgm_ops"})
        op.execute("DROP TRIGGER maintenance_window_bump ON maintenance_window")
        op.execute("DROP FUNCTION ep_bump_maintenance_token()")
    else:
        op.create_index("ix_demande_nom_trgm", "demande", ["nom_search"])
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER maintenance_window_bump_{event}")
    op.drop_table("app_state")
