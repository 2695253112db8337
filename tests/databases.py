"""The test databases: one per pytest-xdist worker, reset for every test.

- SQLite: the worker migrates a template file once; before each test the
  template is copied over the worker's database file.
- PostgreSQL: the worker migrates its own database (``DATABASE_URL``'s name with
  the worker id appended, ``test`` → ``test_gw0``, created on demand). A test
  runs inside one transaction that is rolled back at its end: the session joins
  it, so the application's commits are SAVEPOINT releases and its rollbacks go
  back to the last one. A test whose data must be seen by another connection
  (threads, a subprocess, the browser's live server) runs on real commits
  instead, and the tables are truncated after it.
"""
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection

from ep_web.extensions import db


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` → psycopg 3's SQLAlchemy dialect."""
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)


def with_database(url: str, name: str) -> str:
    """The same server URL, another database name."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def database_name(url: str) -> str:
    return make_url(url).database


def worker_url(url: str, worker: str) -> str:
    """This worker's database: ``…/test`` → ``…/test_gw0``; the URL itself outside xdist."""
    return with_database(url, f"{database_name(url)}_{worker}") if worker else url


def create_database(url: str) -> None:
    """CREATE DATABASE unless it exists (PostgreSQL), from the server's ``postgres`` database."""
    import psycopg
    from psycopg import sql

    name = database_name(url)
    admin = with_database(url, "postgres").replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def empty_schema() -> None:
    """PostgreSQL: drop every table, type and function (much cheaper than a new database)."""
    db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    db.session.commit()


def _upgrade() -> None:
    from flask_migrate import upgrade

    upgrade()


# ---------------------------------------------------------------- sessions joined to a test's transaction

# The connection each app's sessions use for the current test (PostgreSQL, rolled-back tests).
_joined: dict[Flask, Connection] = {}


def install_joined_sessions() -> None:
    """Make ``db.session`` use the current test's connection when there is one.

    Flask-SQLAlchemy's ``Session.get_bind`` returns the app's engine whatever the
    session was given, so the class of the session factory is swapped for one
    that returns the joined connection first; ``create_savepoint`` turns the
    session's commits into SAVEPOINT releases inside the test's transaction."""
    factory = db.session.session_factory
    if getattr(factory.class_, "_ep_joined", False):
        return
    base = factory.class_

    class JoinedSession(base):
        _ep_joined = True

        def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
            if bind is None and _joined and has_app_context():
                joined = _joined.get(current_app._get_current_object())
                if joined is not None:
                    return joined
            return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)

    factory.class_ = JoinedSession
    factory.configure(join_transaction_mode="create_savepoint")


class SQLiteDatabase:
    def __init__(self, folder: Path):
        self.template = folder / "template.sqlite3"
        self.path = folder / "test.sqlite3"
        self.url = f"sqlite:///{self.path}"
        self.is_pg = False

    def tune(self, app: Flask) -> None:
        """No fsync and an in-memory journal: a test's database is a throwaway copy,
        and the factories commit often (a quarter of the time profiled went to fsync)."""

        def no_sync(dbapi_connection, _record):
            dbapi_connection.execute("PRAGMA synchronous = OFF")
            dbapi_connection.execute("PRAGMA journal_mode = MEMORY")

        with app.app_context():
            event.listen(db.engine, "connect", no_sync)

    def migrate(self, app: Flask) -> None:
        """Run the Alembic migrations (for real) once, into the template."""
        self.tune(app)
        with app.app_context():
            _upgrade()
            db.session.remove()
            db.engine.dispose()
        shutil.copyfile(self.path, self.template)

    def reset(self, app: Flask | None = None) -> None:
        """Back to the migrated state: no connection may be open on the file."""
        if app is not None:
            with app.app_context():
                db.engine.dispose()
        shutil.copyfile(self.template, self.path)

    @contextmanager
    def isolated(self, app: Flask, committed: bool):
        """Inside ``app``'s app context: a fresh copy of the template for the test."""
        db.engine.dispose()
        shutil.copyfile(self.template, self.path)
        try:
            yield
        finally:
            db.session.remove()
            db.engine.dispose()

    def clean(self, app: Flask) -> None:
        """After a test that committed through another app (the live server)."""

    def share(self, app: Flask, other: Flask) -> None:
        """``other`` sees the test's data: the same file."""


class PostgresDatabase:
    def __init__(self, url: str):
        self.url = sqlalchemy_url(url)
        self.is_pg = True

    def tune(self, app: Flask) -> None:
        """Commits that do not wait for the disk (the committed tests, the live
        server, TRUNCATE): nothing here has to survive a crash."""

        def no_sync(dbapi_connection, _record):
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit = off")
            dbapi_connection.commit()

        with app.app_context():
            event.listen(db.engine, "connect", no_sync)

    def migrate(self, app: Flask) -> None:
        self.tune(app)
        create_database(self.url)
        with app.app_context():
            empty_schema()
            _upgrade()
            db.session.remove()
        install_joined_sessions()

    def reset(self, app: Flask | None = None) -> None:
        """Nothing to do: every test leaves the tables empty."""

    @contextmanager
    def isolated(self, app: Flask, committed: bool):
        """Inside ``app``'s app context: the test's transaction, or real commits then TRUNCATE."""
        if committed:
            try:
                yield
            finally:
                db.session.remove()
                self.truncate()
            return
        connection = db.engine.connect()
        transaction = connection.begin()
        _joined[app] = connection
        try:
            yield
        finally:
            db.session.remove()
            for joined in [a for a, c in _joined.items() if c is connection]:
                del _joined[joined]
            transaction.rollback()
            connection.close()

    def clean(self, app: Flask) -> None:
        """After a test that committed through another app (the live server)."""
        with app.app_context():
            db.session.remove()
            self.truncate()

    def share(self, app: Flask, other: Flask) -> None:
        """``other`` sees the test's data: it joins the test's transaction too."""
        if app in _joined:
            _joined[other] = _joined[app]

    @staticmethod
    def truncate() -> None:
        tables = ", ".join(t.name for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
