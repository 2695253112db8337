"""The Alembic migrations build exactly the models' schema, and go down and up again."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from ep_web import create_app
from ep_web.extensions import db
from tests.databases import create_database, database_name, empty_schema, with_database


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_migrated_schema_matches_the_models(app):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
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
