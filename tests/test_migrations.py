"""The Alembic migrations build exactly the models' schema, and go down and up again."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from ep_web import create_app
from ep_web.extensions import db
from ep_web.models import include_object_for
from tests.databases import create_database, database_name, empty_schema, with_database


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_migrated_schema_matches_the_models(app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object_for(conn.dialect.name)})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


@pytest.fixture
def scratch_url(database, tmp_path):
    """An empty database next to the worker's (``test_gw0`` → ``test_gw0_migrations``,
    kept from one run to the next: emptying its schema is cheaper than a new database)."""
    if not database.is_pg:
        return f"sqlite:///{tmp_path / 'mig.sqlite3'}"
    url = with_database(database.url, f"{database_name(database.url)}_migrations")
    create_database(url)
    return url


def test_downgrade_to_base_and_upgrade_again(scratch_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": scratch_url, "TESTING": True}, environ={})
    with app.app_context():
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            empty_schema()  # left by the previous run
        upgrade()
        downgrade(revision="base")
        assert db.inspect(db.engine).get_table_names() in ([], ["alembic_version"])
        upgrade()
        assert "audit_event" in db.inspect(db.engine).get_table_names()
        db.engine.dispose()


@pytest.mark.postgres_only
def test_two_servers_starting_at_once_migrate_once(scratch_url, tmp_path):
    """Each web server migrates before it starts (deploy/): two at once on an
    empty database both succeed, one after the other (an advisory lock in
    migrations/env.py), instead of one failing on tables the other created."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    app = create_app({"SQLALCHEMY_DATABASE_URI": scratch_url, "TESTING": True}, environ={})
    with app.app_context():
        empty_schema()
        db.engine.dispose()
    # EP_ENV=test: the servers start without a real secret key or an antivirus
    # (production refuses both, tests/auth and tests/attachments).
    env = {**os.environ, "DATABASE_URL": scratch_url.replace("+psycopg", ""), "PYTHONPATH": str(root),
           "EP_ENV": "test"}
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    procs = [subprocess.Popen([flask, "--app", "app", "db", "upgrade"], cwd=root, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0].decode(errors="replace") for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    with app.app_context():
        assert "audit_event" in db.inspect(db.engine).get_table_names()
        db.engine.dispose()
