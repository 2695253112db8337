"""Statistics: stat_year, the months of each year added up (issue 14 §3: a
year's table reads one row per key instead of twelve)

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
MEASURES = (["created", "closed", "taken", "complements", "sla_met", "sla_missed", "moved_in", "moved_out"]
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
    # Derived from stat_month, which holds every rolled day (not seed data: the
    # rollup keeps both tables in step from now on).
    year = ("make_date(extract(year from month)::int, 1, 1)" if op.get_bind().dialect.name == "postgresql"
            else "strftime('%Y-01-01', month)")
    columns = ", ".join(KEY + MEASURES)
    sums = ", ".join(f"sum({m})" for m in MEASURES)
    op.execute(f"INSERT INTO stat_year (year, {columns}) SELECT {year}, {', '.join(KEY)}, {sums} "
               f"FROM stat_month GROUP BY {year}, {', '.join(KEY)}")


def downgrade():
    op.drop_index("ix_stat_year_partenaire", table_name="stat_year")
    op.drop_table("stat_year")
