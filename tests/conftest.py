"""Fixtures: ``app``, ``client``, ``db_session`` helpers and a factory of objects.

The database is SQLite by default (a migrated template file copied for each
test) or PostgreSQL when ``DATABASE_URL`` points to one (migrated once, tables
truncated between tests). Migrations are therefore tested on both.
"""
import os
import re
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from ep_web import create_app
from ep_web.clock import FrozenClock
from ep_web.extensions import db as _db

PG_URL = os.environ.get("DATABASE_URL", "")
IS_PG = PG_URL.startswith("postgres")
PASSWORD = "Tres-Solide-Motdepasse-42!"
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # a Monday


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
    return f"database: {'PostgreSQL ' + PG_URL if IS_PG else 'SQLite'}"


def _upgrade(app):
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


@pytest.fixture(scope="session")
def _db_template(tmp_path_factory):
    """Migrate once per session (this runs the Alembic migrations for real)."""
    if IS_PG:
        app = create_app({"SQLALCHEMY_DATABASE_URI": _pg(PG_URL), "TESTING": True})
        with app.app_context():
            _db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            _db.session.commit()
        _upgrade(app)
        return None
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    _upgrade(create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "TESTING": True}))
    return path


def _pg(url: str) -> str:
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)


@pytest.fixture
def clock():
    return FrozenClock(START)


@pytest.fixture
def db_url(_db_template, tmp_path):
    if IS_PG:
        return _pg(PG_URL)
    path = tmp_path / "test.sqlite3"
    shutil.copy(_db_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(db_url, clock, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": db_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
            "WTF_CSRF_ENABLED": False,
            "SECRET_KEY": "test",
            "CLOCK": clock,
            "REDIS_URL": "",
            "SMTP_HOST": "",
            "MAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
            "UPLOAD_DIR": str(tmp_path / "uploads"),
            "MAIL_PRINT": False,
            "BASE_URL": "http://ep.test",
            "EP_INSECURE_COOKIES": True,
            "SERVER_NAME": None,
        }
    )
    with app.app_context():
        yield app
        _db.session.remove()
        if IS_PG:
            tables = ", ".join(t.name for t in _db.metadata.sorted_tables)
            with _db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        _db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make(app, clock):
    from tests.factories import Factory

    return Factory(clock)


@pytest.fixture
def login(client):
    """Log a user in through the real login form; returns the client."""

    def _login(account, password=PASSWORD, c=None):
        c = c or client
        resp = c.post("/connexion", data={"login": account.login, "password": password})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
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


def pytest_collection_modifyitems(config, items):
    if not IS_PG:
        skip = pytest.mark.skip(reason="needs PostgreSQL (run with DATABASE_URL)")
        for item in items:
            if "postgres_only" in item.keywords:
                item.add_marker(skip)


__all__ = ["PASSWORD", "START", "date", "timedelta", "Path"]
