"""Accounts: the partner's index covers the status and the profile, so that
the seats in use of a caisse's partners (quotas.seats_used_select, the
caisse charts' accounts chart) are counted from the index alone (issue 14
§3, p95 ≤ 50 ms at 5 M demandes)

Revision ID: 0024
Revises: 0023

On bench_ind14 (40 307 accounts), the largest caisse's 2 462 partners: the
count read the whole account table (1 322 pages, a sequential scan, 12 ms);
an index-only scan per partner, 7 ms. The index replaces the one on
partenaire_id alone (same key: every query that used it still can).
"""
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return  # INCLUDE is PostgreSQL's: the index on partenaire_id stays as it is
    op.drop_index("ix_account_partenaire_id", table_name="account")
    op.create_index("ix_account_partenaire_id", "account", ["partenaire_id"],
                    postgresql_include=["status", "profile"])


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_account_partenaire_id", table_name="account")
    op.create_index("ix_account_partenaire_id", "account", ["partenaire_id"])
