"""The Alembic migrations build exactly the models' schema, and go down and up again."""
import re

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from ep_web import create_app
from ep_web.extensions import db
from tests.conftest import IS_PG, PG_URL


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_migrated_schema_matches_the_models(app):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


@pytest.fixture
def scratch_url(tmp_path):
    if not IS_PG:
        yield f"sqlite:///{tmp_path / 'mig.sqlite3'}"
        return
    name = "ep_migrations_scratch"
    admin = re.sub(r"/[^/]*$", "/postgres", PG_URL.replace("+psycopg", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    yield re.sub(r"/[^/]*$", f"/{name}", re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", PG_URL))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_downgrade_to_base_and_upgrade_again(scratch_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": scratch_url, "TESTING": True})
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        assert db.inspect(db.engine).get_table_names() in ([], ["alembic_version"])
        upgrade()
        assert "audit_event" in db.inspect(db.engine).get_table_names()
        db.engine.dispose()
