"""Extensions created unbound, ``init_app``-ed by the factory."""
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


def init_limiter(app) -> Limiter:
    """Flask-Limiter for one app (its storage follows that app's REDIS_URL: one
    per app, so that a test's or a worker's second app never shares another's).
    Per-address limits (ep_web.domain.auth, the password-reset form) use its
    storage: Redis when REDIS_URL is set (shared by every process), memory
    otherwise. The address is the client's once ProxyFix has read
    EP_TRUSTED_PROXIES hops of X-Forwarded-For."""
    # Redis when configured, this process's memory otherwise.
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    limiter = Limiter(get_remote_address, app=app)
    app.extensions["ep_limiter"] = limiter
    return limiter


class _Limits:
    """The current app's rate-limiting strategy (``limits``' hit/test/window
    stats), its identifiers prefixed with RATELIMIT_KEY_PREFIX as
    Flask-Limiter's own limits are (several deployments may share one Redis)."""

    def __init__(self, app):
        self.strategy = app.extensions["ep_limiter"].limiter
        self.prefix = app.config.get("RATELIMIT_KEY_PREFIX") or "ep-limits"

    def hit(self, limit, *identifiers) -> bool:
        return self.strategy.hit(limit, self.prefix, *identifiers)

    def test(self, limit, *identifiers) -> bool:
        return self.strategy.test(limit, self.prefix, *identifiers)

    def reset_time(self, limit, *identifiers) -> float:
        return self.strategy.get_window_stats(limit, self.prefix, *identifiers).reset_time


def rate_limits() -> _Limits:
    from flask import current_app

    return _Limits(current_app)


def core_read(statement, params=None):
    """A SELECT of columns run as Core on the request session's connection:
    the rows as they come, without the ORM's execution and row loading (a
    quarter of a list's query cost in CPU). What the session holds unflushed
    is flushed first, as its own execute would (autoflush)."""
    session = db.session()
    if session.autoflush:
        session.flush()  # returns at once when nothing is pending
    return session.connection().execute(statement, params)
