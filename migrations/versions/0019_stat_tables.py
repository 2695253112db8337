"""Statistics: the indicator tables' rows (issue 14 §3, p95 ≤ 50 ms at 5 M
demandes): stat_month_table and stat_year_table, stat_month and stat_year
with the services and outcomes added up (one row per period × caisse ×
partner, holding the tables' columns), in place of the covering indexes of
0016 on stat_month and stat_year; stat_day's caisse index covers the tables'
columns (the days at the edges of a date range, index-only)

Revision ID: 0019
Revises: 0018

A caisse's table for a year read ~41 000 stat_year rows (partner × service ×
outcome) and added them up into ~2 500 partners; it now reads the 2 500.
The rollup keeps both tables by difference in the same transaction as
stat_month and stat_year (ep_web.domain.statistics.rollup_days); here they
are derived once from stat_month and stat_year, which hold every rolled day.
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

COUNTS = ["created", "closed", "taken", "complements", "sla_met", "sla_missed", "moved_in", "moved_out"]
# ep_web.models.stats.TABLE_EXTRAS, as SQL over stat_month / stat_year.
EXTRAS = {
    "signalements": "CASE WHEN service = 'signalement' THEN created ELSE 0 END",
    "closed_mas": "CASE WHEN outcome = 'transmis_mission_accompagnement' THEN closed ELSE 0 END",
    "closed_parcours": "CASE WHEN outcome = 'parcours_cree' THEN closed ELSE 0 END",
    "closed_soins": "CASE WHEN outcome = 'parcours_cloture_soins' THEN closed ELSE 0 END",
    "closed_prevention": "CASE WHEN outcome = 'examen_prevention' THEN closed ELSE 0 END",
}
DAY_COVER = ["partenaire_id", "service", "outcome", *COUNTS]
FILLFACTOR = 80


def upgrade():
    pg = op.get_bind().dialect.name == "postgresql"
    for source, period in (("stat_month", "month"), ("stat_year", "year")):
        table = f"{source}_table"
        op.create_table(
            table,
            sa.Column(period, sa.Date(), primary_key=True),
            sa.Column("caisse_id", sa.Integer(), primary_key=True),
            sa.Column("partenaire_id", sa.Integer(), primary_key=True),
            *[sa.Column(m, sa.Integer(), nullable=False) for m in [*COUNTS, *EXTRAS]],
        )
        op.create_index(f"ix_{table}_partenaire", table, ["partenaire_id", period])
        if pg:
            # Updated every night, like stat_month and stat_year (0016, and below).
            op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR}, autovacuum_vacuum_scale_factor = 0, "
                       "autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_insert_scale_factor = 0, "
                       "autovacuum_vacuum_insert_threshold = 5000, autovacuum_analyze_scale_factor = 0.02)")
        columns = ", ".join([period, "caisse_id", "partenaire_id", *COUNTS, *EXTRAS])
        sums = ", ".join([*[f"sum({m})" for m in COUNTS], *[f"sum({sql})" for sql in EXTRAS.values()]])
        op.execute(f"INSERT INTO {table} ({columns}) SELECT {period}, caisse_id, partenaire_id, {sums} "
                   f"FROM {source} GROUP BY {period}, caisse_id, partenaire_id "
                   f"ORDER BY {period}, caisse_id, partenaire_id")  # a caisse's rows together
    # The covering indexes of 0016 served the tables' reads, which the new tables
    # serve now: gone, they no longer cost the nightly upserts (each update of a
    # measure rewrote their entries: no HOT update possible).
    op.drop_index("ix_stat_month_cover", table_name="stat_month")
    op.drop_index("ix_stat_year_cover", table_name="stat_year")
    if pg:
        # The nightly upsert adds each day into rows of its month and year: with room
        # left on their pages and no index on a measure, PostgreSQL updates them in
        # place (HOT: no new index entry), which halves the first roll of a day at
        # 5 M demandes (bench/indicators.py). CLUSTER rewrites the tables once with
        # that room, in key order (a caisse's rows together); it locks them for
        # about a minute at national scale, at the deployment only.
        for table in ("stat_month", "stat_year"):
            op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")
            op.execute(f"CLUSTER {table} USING pk_{table}")
        op.drop_index("ix_stat_day_caisse", table_name="stat_day")
        op.create_index("ix_stat_day_caisse", "stat_day", ["caisse_id", "day"], postgresql_include=DAY_COVER)
        # Written every night: the new days' pages all-visible soon, for index-only scans.
        op.execute("ALTER TABLE stat_day SET (autovacuum_vacuum_insert_scale_factor = 0, "
                   "autovacuum_vacuum_insert_threshold = 5000, autovacuum_analyze_scale_factor = 0.02)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in ("stat_month", "stat_year"):
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
        op.execute("ALTER TABLE stat_day RESET (autovacuum_vacuum_insert_scale_factor, "
                   "autovacuum_vacuum_insert_threshold, autovacuum_analyze_scale_factor)")
        op.drop_index("ix_stat_day_caisse", table_name="stat_day")
        op.create_index("ix_stat_day_caisse", "stat_day", ["caisse_id", "day"])
    for table, period in (("stat_year", "year"), ("stat_month", "month")):
        op.create_index(f"ix_{table}_cover", table, ["caisse_id", period, "partenaire_id"],
                        postgresql_include=["service", "outcome", *COUNTS])
    for table in ("stat_year_table", "stat_month_table"):
        op.drop_index(f"ix_{table}_partenaire", table_name=table)
        op.drop_table(table)
