"""Prepared statements (ep_web.prepared): the statements every request sends
stay prepared from one request to the next on PostgreSQL, because a
transaction that only read ends with COMMIT; one that wrote still rolls back."""
import pytest
from sqlalchemy import literal, select, text

from ep_web.extensions import db
from ep_web.models import CguVersion
from ep_web.prepared import only_reads, prepared


@pytest.mark.parametrize("statement, reads", [
    ("SELECT demande.id FROM demande WHERE demande.updated_at > %(at)s", True),
    ("  select 1", True),
    ("WITH matches AS (SELECT demande.id FROM demande) SELECT count(*) FROM matches", True),
    ("SELECT account.deleted_at, account.update_count FROM account", True),
    ("INSERT INTO demande (id) VALUES (1)", False),
    ("UPDATE account SET nom = 'x'", False),
    ("delete from account", False),
    ("WITH gone AS (DELETE FROM account RETURNING id) SELECT count(*) FROM gone", False),
    ("SELECT account.id FROM account FOR UPDATE", False),
    ("SELECT nextval('demande_id_seq')", False),
    ("SELECT * INTO copy FROM account", False),
    ("SAVEPOINT sa_savepoint_1", False),
    ("TRUNCATE account", False),
    ("SET LOCAL statement_timeout = 1", False),
])
def test_only_reads_says_which_statements_write_nothing(statement, reads):
    assert only_reads(statement) is reads


def _prepared_statements(conn) -> list[str]:
    return [row[0] for row in conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements")]


@pytest.mark.postgres_only
@pytest.mark.committed
def test_a_transaction_that_read_keeps_its_prepared_statements(app):
    marker = select(literal("ep-prepared-probe").label("probe"))
    with db.engine.connect() as conn:
        conn.execute(prepared(marker)).one()
        conn.rollback()  # only reads: a COMMIT, the statement stays prepared
        assert any("AS probe" in s for s in _prepared_statements(conn))
        conn.rollback()
        conn.execute(prepared(marker)).one()
        conn.execute(text("SELECT 1 FROM cgu_version FOR UPDATE"))
        conn.rollback()  # a row lock: a real ROLLBACK (psycopg then drops what it prepared)
        assert _prepared_statements(conn) == []


@pytest.mark.postgres_only
@pytest.mark.committed
def test_a_transaction_that_wrote_is_rolled_back(app):
    """What a transaction wrote without committing is never kept, whatever it read before or after."""
    before = db.session.scalar(select(CguVersion.version).order_by(CguVersion.version.desc()).limit(1)) or 0
    db.session.remove()
    with db.engine.connect() as conn:
        conn.execute(prepared(select(literal(1)))).one()
        conn.execute(text("INSERT INTO cgu_version (version, body, published_at) VALUES (:v, 'x', now())"),
                     {"v": before + 1})
        conn.execute(select(literal(2))).one()
        conn.rollback()
        assert conn.scalar(select(CguVersion.version).where(CguVersion.version == before + 1)) is None
        conn.rollback()


@pytest.mark.postgres_only
@pytest.mark.committed
def test_each_request_reuses_the_prepared_session_statement(app, make, login, other_app):
    """The user's session is read through one prepared statement, kept from
    one request to the next: after a few pages, PostgreSQL runs its generic
    plan (no planning per request). (A second app: each of its requests has
    its own app context, so its transaction ends with the request, as in
    production; the test's app context would hold one across requests.)"""
    from ep_web.domain.sessions import _load_select

    assert _load_select().get_execution_options().get("ep_prepared")
    account = make.world().technicien
    # One pooled connection (the others are closed when given back), so that every request uses
    # the one whose statements are read below.
    server = other_app({"WTF_CSRF_ENABLED": False, "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 4}})
    client = login(account, c=server.test_client())
    for _ in range(8):
        assert client.get("/demandes").status_code == 200
    with server.app_context():
        plans = db.session.execute(text("SELECT generic_plans + custom_plans FROM pg_prepared_statements "
                                        "WHERE statement LIKE 'SELECT user_session.id%'")).scalars().all()
    assert plans and max(plans) >= 8, plans  # prepared once: every page ran it
