"""Fixtures: ``app``, ``client``, ``make``, ``login``, ``outbox``, ``clock``.

One app per test session (per pytest-xdist worker): building one compiles every
URL rule, which costs more than most tests. Each test gets it back as built:
configuration restored, its own FrozenClock, outbox and upload folders, and a
database as migrated (``tests/databases.py``: a copied SQLite template, or on
PostgreSQL a transaction rolled back at the end of the test).

A test whose data must be visible to another connection (threads, a
subprocess) carries ``@pytest.mark.committed``: its commits are real. The app is
built from an empty environment: a developer's ``EP_*`` variables do not leak in.
"""
import copy
import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ep_web import create_app
from ep_web.clock import FrozenClock
from ep_web.extensions import db as _db
from tests.databases import PostgresDatabase, SQLiteDatabase, worker_url

pytest_plugins = ["tests.plugins.browser"]

PG_URL = os.environ.get("DATABASE_URL", "")
IS_PG = PG_URL.startswith("postgres")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
PASSWORD = "Tres-Solide-Motdepasse-42!"
# The factory enrols the accounts that must have a second factor with this secret.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # a Monday

TEST_CONFIG = {
    "TESTING": True,
    "WTF_CSRF_ENABLED": False,
    "SECRET_KEY": "test",
    "REDIS_URL": "",
    "SMTP_HOST": "",
    "MAIL_PRINT": False,
    "BASE_URL": "http://ep.test",
    "EP_INSECURE_COOKIES": True,
    "SERVER_NAME": None,
    # As in the quick start: no clamd, unscanned files served and shown "non analysé".
    # The antivirus tests (tests/attachments) configure a real clamd or turn it off.
    "ALLOW_UNSCANNED": True,
}


@pytest.fixture(autouse=True, scope="session")
def _fast_argon2():
    """argon2id stays the algorithm; tests use small cost parameters so that
    hundreds of logins stay fast (production keeps the library's defaults)."""
    from argon2 import PasswordHasher

    import ep_web.domain.passwords as passwords

    original = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    passwords._DUMMY = passwords._hasher.hash("dummy-password")
    yield
    passwords._hasher = original


def pytest_report_header(config):
    if not IS_PG:
        lines = ["database: SQLite (a migrated template copied for each test)"]
    else:
        xdist = getattr(config.option, "numprocesses", None)
        lines = [f"database: PostgreSQL {worker_url(PG_URL, 'gwN') if xdist else PG_URL}"]
    if TEST_PASS:
        other = PASSES[1 - PASSES.index(TEST_PASS)]
        lines.append(f"pass: {TEST_PASS} of the two-pass test command (EP_TEST_PASS): the tests that do not "
                     f"depend on the database's dialect and belong to the {other} pass are deselected here "
                     "(rule in tests/conftest.py and the README)")
    return lines


# ------------------------------------------------------------------ the test command's two passes
#
# ``scripts/dev.py test`` runs the suite on SQLite, then on PostgreSQL, and tells
# each pass which it is (EP_TEST_PASS). A test that exercises the database runs in
# both. A test whose outcome cannot depend on the database's dialect runs in one:
#
# - a test marked ``one_pass("sqlite")`` or ``one_pass("postgresql")``: that pass
#   (tests about a real server of their own: gunicorn, a PostgreSQL cluster...);
# - a test marked ``postgres_only``: the PostgreSQL pass (it is skipped without it);
# - a browser journey (marker ``browser``), and a test using one of the real
#   servers of REAL_SERVERS (Redis, S3, clamd): the PostgreSQL pass, production's
#   database; the embedded defaults (jobs in-process, local outbox and disk, no
#   antivirus) are what the other tests use, in both passes;
# - a test that does not use the ``database`` fixture (nor ``app``, ``client``,
#   ``make``... which depend on it): the SQLite pass.
#
# Outside the two-pass command (plain pytest, EP_TEST_PASS unset) every test runs.
# Tests of the other pass are deselected, never skipped: the summary line counts
# them (a line at the end of each pass) and the header says why.

PASSES = ("sqlite", "postgresql")
# Fixtures of real servers (the shared Redis, or servers the tests start): their
# tests are about the server, not about the database's dialect.
REAL_SERVERS = {"redis_queue", "redis_server", "s3_server", "clamd_daemon"}
TEST_PASS = os.environ.get("EP_TEST_PASS", "")
if TEST_PASS not in ("", *PASSES):
    raise pytest.UsageError(f"EP_TEST_PASS={TEST_PASS!r}: expected one of {PASSES}")
if TEST_PASS and (TEST_PASS == "postgresql") != IS_PG:
    raise pytest.UsageError(f"EP_TEST_PASS={TEST_PASS} does not match DATABASE_URL={PG_URL!r}")


def pass_of(item) -> str | None:
    """The one pass ``item`` runs in, or None for both (the rule above)."""
    marker = item.get_closest_marker("one_pass")
    if marker is not None:
        if len(marker.args) != 1 or marker.args[0] not in PASSES:
            raise pytest.UsageError(f"{item.nodeid}: one_pass takes one of {PASSES}, got {marker.args}")
        return marker.args[0]
    fixtures = set(getattr(item, "fixturenames", ()))
    if item.get_closest_marker("postgres_only") is not None or item.get_closest_marker("browser") is not None \
            or fixtures & REAL_SERVERS:
        return "postgresql"
    if "database" not in fixtures:
        return "sqlite"
    return None


def _long(item) -> bool:
    return any(item.get_closest_marker(name) is not None for name in ("browser", "long", "one_pass")) \
        or bool(REAL_SERVERS & set(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(config, items):
    # The longest tests (browser journeys, real servers, marker ``long``) run
    # first: they spread over the xdist workers and the short tests even out the
    # end (no worker left alone with a 15-second journey at the end of the run).
    items.sort(key=lambda item: not _long(item))
    if TEST_PASS:
        kept, other = [], []
        for item in items:
            (kept if pass_of(item) in (None, TEST_PASS) else other).append(item)
        if other:
            config.hook.pytest_deselected(items=other)
            items[:] = kept
        if hasattr(config, "workeroutput"):  # an xdist worker: its controller prints the count
            config.workeroutput["ep_other_pass"] = len(other)
        _other_pass.append(len(other))
    if not IS_PG:
        skip = pytest.mark.skip(reason="needs PostgreSQL (run with DATABASE_URL)")
        for item in items:
            if "postgres_only" in item.keywords:
                item.add_marker(skip)


_other_pass: list[int] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist's controller: the workers' count of tests left to the other pass."""
    count = getattr(node, "workeroutput", {}).get("ep_other_pass")
    if count is not None:
        _other_pass.append(count)


def pytest_terminal_summary(terminalreporter):
    if TEST_PASS and _other_pass:
        other = PASSES[1 - PASSES.index(TEST_PASS)]
        terminalreporter.write_line(f"{max(_other_pass)} tests deselected in this pass: dialect-independent, "
                                    f"they run in the {other} pass (EP_TEST_PASS, see the README).")


@pytest.fixture(scope="session")
def database(tmp_path_factory):
    """This worker's database (``tests.databases``), not yet migrated."""
    if IS_PG:
        return PostgresDatabase(worker_url(PG_URL, WORKER))
    return SQLiteDatabase(tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def _session_app(database):
    """The worker's app, on its migrated database (the Alembic migrations run for real)."""
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database.url}, environ={})
    database.migrate(app)
    app.ep_pristine_config = copy.deepcopy(dict(app.config))
    yield app
    with app.app_context():
        _db.engine.dispose()


@pytest.fixture
def db_url(database):
    """The URL of the test's database (for a subprocess or a second app)."""
    return database.url


@pytest.fixture
def clock():
    return FrozenClock(START)


@pytest.fixture
def app(_session_app, database, clock, tmp_path, request):
    app = _session_app
    app.config.clear()
    app.config.update(copy.deepcopy(app.ep_pristine_config))
    app.config.update(CLOCK=clock, MAIL_OUTBOX_DIR=str(tmp_path / "outbox"), UPLOAD_DIR=str(tmp_path / "uploads"))
    app.extensions["ep_clock"] = clock
    app.extensions["ep_limiter"].reset()  # per-address counters (memory storage) start empty for every test
    committed = request.node.get_closest_marker("committed") is not None
    with app.app_context(), database.isolated(app, committed):
        yield app


@pytest.fixture
def other_app(app, database, clock):
    """``other_app(config, environ)``: a second app (its own configuration and
    environment, ``{}`` by default) on the test's database, seeing the test's data."""
    built = []

    def _build(config: dict | None = None, environ: dict | None = None):
        other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database.url, "CLOCK": clock, **(config or {})},
                           environ={} if environ is None else environ)
        database.tune(other)
        database.share(app, other)
        built.append(other)
        return other

    yield _build
    for other in built:
        with other.app_context():
            _db.session.remove()
            _db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make(app, clock):
    from tests.factories import Factory

    return Factory(clock)


def totp_code(account=None, secret=TOTP_SECRET) -> str:
    """The code the account's authenticator shows now (on the app's clock). The
    test forgets the last step the account used first: with a frozen clock, a
    second login in the same test would otherwise reuse the code (refused)."""
    from ep_web.domain.second_factor import current_code

    if account is not None and account.totp_last_step is not None:
        account.totp_last_step = None
        _db.session.commit()
    return current_code(secret)


@pytest.fixture
def login(client):
    """Log a user in through the real login form (password, then the second
    factor's code when the account has one); returns the client."""

    def _login(account, password=PASSWORD, c=None):
        c = c or client
        resp = c.post("/connexion", data={"login": account.login, "password": password})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
        if resp.headers["Location"].endswith("/connexion/code"):
            resp = c.post("/connexion/code", data={"code": totp_code(account)})
            assert resp.status_code in (302, 303), resp.get_data(as_text=True)[:2000]
        assert "/connexion" not in resp.headers["Location"], resp.headers["Location"]
        return c

    return _login


@pytest.fixture
def outbox(app):
    """The e-mails written to the outbox table, oldest first."""
    from ep_web.models import OutboxEmail

    def _outbox(to: str | None = None):
        q = _db.select(OutboxEmail).order_by(OutboxEmail.id)
        if to:
            q = q.where(OutboxEmail.to == to)
        return _db.session.scalars(q).all()

    return _outbox


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 server (SeaweedFS, ``tests.servers.S3Server``) for the session,
    started on first use. Skipped without ``weed`` on a developer machine, a
    failure under CI."""
    from tests.servers import S3Server

    server = S3Server()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def s3(app, s3_server):
    """The app stores its files in the S3 server, under a prefix of this test's own."""
    import uuid

    prefix = f"t-{uuid.uuid4().hex[:12]}"
    app.config.update(s3_server.config(prefix))
    s3_server.prefix = prefix + "/"
    return s3_server


__all__ = ["PASSWORD", "START", "TOTP_SECRET", "totp_code", "date", "timedelta", "Path"]
