"""Statistics: stat_year, the months of each year added up (issue 14 §3: a
year's table reads one row per key instead of twelve); covering indexes for
the tables' reads of stat_year and stat_month

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

DELAY_BUCKETS = 15
COUNTS = ["created", "closed", "taken", "complements", "sla_met", "sla_missed", "moved_in", "moved_out"]
MEASURES = (COUNTS
            + [f"close_d{i}" for i in range(DELAY_BUCKETS)] + [f"first_d{i}" for i in range(DELAY_BUCKETS)])
KEY = ["caisse_id", "partenaire_id", "service", "outcome"]


def upgrade():
    op.create_table(
        "stat_year",
        sa.Column("year", sa.Date(), primary_key=True),
        sa.Column("caisse_id", sa.Integer(), primary_key=True),
        sa.Column("partenaire_id", sa.Integer(), primary_key=True),
        sa.Column("service", sa.String(20), primary_key=True),
        sa.Column("outcome", sa.String(40), primary_key=True),
        *[sa.Column(m, sa.Integer(), nullable=False) for m in MEASURES],
    )
    op.create_index("ix_stat_year_partenaire", "stat_year", ["partenaire_id", "year"])
    # The tables' reads (a caisse's partners, a year or a month): index-only scans,
    # in key order (the rows of one caisse lie on thousands of heap pages).
    for table, period in (("stat_year", "year"), ("stat_month", "month")):
        op.create_index(f"ix_{table}_cover", table, ["caisse_id", period, "partenaire_id"],
                        postgresql_include=["service", "outcome", *COUNTS])
        if op.get_bind().dialect.name == "postgresql":
            # Updated every night: vacuumed soon after, so that the scans stay index-only.
            op.execute(f"ALTER TABLE {table} SET (autovacuum_vacuum_scale_factor = 0, "
                       "autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_insert_scale_factor = 0, "
                       "autovacuum_vacuum_insert_threshold = 5000, autovacuum_analyze_scale_factor = 0.02)")
    # Derived from stat_month, which holds every rolled day (not seed data: the
    # rollup keeps both tables in step from now on).
    year = ("make_date(extract(year from month)::int, 1, 1)" if op.get_bind().dialect.name == "postgresql"
            else "strftime('%Y-01-01', month)")
    columns = ", ".join(KEY + MEASURES)
    sums = ", ".join(f"sum({m})" for m in MEASURES)
    op.execute(f"INSERT INTO stat_year (year, {columns}) SELECT {year}, {', '.join(KEY)}, {sums} "
               f"FROM stat_month GROUP BY {year}, {', '.join(KEY)}")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE stat_month RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, "
                   "autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_insert_threshold, "
                   "autovacuum_analyze_scale_factor)")
    op.drop_index("ix_stat_month_cover", table_name="stat_month")
    op.drop_index("ix_stat_year_cover", table_name="stat_year")
    op.drop_index("ix_stat_year_partenaire", table_name="stat_year")
    op.drop_table("stat_year")
