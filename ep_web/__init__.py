"""Espace Partenaires: the application factory."""
import os
import sys
import time
from collections.abc import Mapping
from datetime import date, datetime

from flask import Flask, flash, g, make_response, redirect, request, session, url_for
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFError
from werkzeug.middleware.proxy_fix import ProxyFix

from ep_web.clock import Clock, to_paris
from ep_web.config import BASE_DIR, Config, ConfigurationError, check_secret_key, dev_overrides, file_scanning_problem
from ep_web.extensions import csrf, db, init_limiter, login_manager, migrate

# Pages for anonymous visitors: an ended session there is simply cleared.
_PUBLIC = {"auth.login", "auth.forgot", "auth.activate", "auth.reset", "auth.cgu_text", "auth.second_step",
           "auth.proconnect_login", "auth.proconnect_callback"}
# The probes and the metrics: no session, no user, no gate.
_PROBES = {"ops.healthz", "ops.readyz", "ops.metrics"}
# Background polls (the header's bell, an htmx request): they see the session but are no
# activity of the person (SPEC §3 idle timeout: a tab left open must not keep
# it alive), and once it is over they answer 204 with ``X-EP-Session: ended``
# instead of sending the whole page to the login form (what is typed stays on
# screen; static/js/app.js tells the person).
_PASSIVE = {"notifications.bell"}
# Endpoints reachable while a gate (CGU, expired password) is pending.
_GATE_FREE = {"static", "auth.logout", "auth.cgu", "auth.change_password", "compte.enrol"}


def create_app(test_config: dict | None = None, *, environ: Mapping[str, str] | None = None) -> Flask:
    """The app, configured from ``environ`` (``os.environ`` when omitted), read now,
    then ``test_config`` on top."""
    app = Flask(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        static_folder=str(BASE_DIR / "static"),
        instance_path=str(BASE_DIR / "instance"),
    )
    from ep_web import logredact

    logredact.install()  # SPEC §8: no query string with a person's name in any log line
    app.config.from_object(Config.from_env(environ))
    if test_config:
        app.config.update(test_config)
    check_secret_key(app.config)
    dev_overrides(app.config)
    _check_file_scanning(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # psycopg 3 prepares a statement after 5 runs and PostgreSQL may then
        # switch to a generic plan, blind to how skewed a structure's or a
        # caisse's data is (bench/pages.py: 0.1 ms custom vs 74 ms generic).
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        # connect_timeout: a database that does not answer fails the request
        # (a French 503 page) instead of holding it until the proxy gives up.
        # Only the statements marked ep_web.prepared.prepared are prepared (ep_web.prepared).
        from ep_web.prepared import ONLY_MARKED

        options["connect_args"] = {"prepare_threshold": ONLY_MARKED,
                                   "connect_timeout": app.config["DB_CONNECT_TIMEOUT"],
                                   **options.get("connect_args", {})}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
        # No "SELECT 1" before every request's first query (pool_pre_ping): a
        # pooled connection whose server went away is told by its socket (see
        # _register_liveness_check), at no round trip. Explicit options win.
        options.setdefault("pool_pre_ping", False)
    os.makedirs(app.instance_path, exist_ok=True)
    app.extensions["ep_clock"] = app.config.get("CLOCK") or Clock()

    if app.config["TRUSTED_PROXIES"]:
        # Behind N reverse proxies: the client's address and scheme come from the
        # last N hops of X-Forwarded-For/-Proto, never from what a client sends.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    db.init_app(app)
    _register_liveness_check(app)
    _register_prepared_statements(app)
    init_limiter(app)
    _register_quiet_session_close(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Connectez-vous pour accéder à cette page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    from ep_web import (
        assets,
        compression,
        models,  # noqa: F401  (registers the tables)
    )

    assets.init_app(app)  # static_url() and WhiteNoise for static/dist
    compression.init_app(app)  # registered first: its after_request hook runs last
    from ep_web.inputs import register as register_inputs

    # Before the blueprints: every route is built with the bounded int converter.
    register_inputs(app)
    _register_timer(app)
    from ep_web.jobs import register_after_response

    register_after_response(app)
    _register_blueprints(app)
    _register_session_rules(app)
    _register_security_headers(app)
    _register_template_helpers(app)
    from ep_web.maintenance import register_maintenance  # noqa: E402

    register_maintenance(app)  # SPEC §5: banner before a window, 503 page during it

    from ep_web.cli import register_cli

    register_cli(app)
    return app


def _check_file_scanning(app: Flask) -> None:
    """Fail closed (SPEC §8): no antivirus in production stops the start with
    a clear message on stderr; allowed unscanned files are said out loud."""
    problem = file_scanning_problem(app.config)
    if problem:
        # As for the secret key: on stderr, then an exception that stops the start.
        print(problem, file=sys.stderr, flush=True)
        raise ConfigurationError(problem)
    if app.config.get("ALLOW_UNSCANNED") and not (app.config.get("CLAMD_SOCKET") or app.config.get("CLAMD_ADDRESS")):
        message = ("ATTENTION : aucun antivirus configuré (EP_ALLOW_UNSCANNED=1) : les fichiers déposés ne sont pas "
                   "analysés et sont téléchargeables avec la mention « non analysé ». Pour le développement seulement.")
        if app.config.get("TESTING"):
            import logging

            logging.getLogger("ep_web").info(message)  # every test app would say it
        else:
            print(message, file=sys.stderr, flush=True)


def _blueprints() -> list:
    """Every blueprint of the application, in registration order."""
    from ep_web.auth.routes import bp as auth_bp
    from ep_web.breaches.routes import bp as breaches_bp
    from ep_web.caisse import bp as caisse_bp
    from ep_web.compte.routes import bp as compte_bp
    from ep_web.demandes.routes import bp as demandes_bp
    from ep_web.errors.handlers import bp as errors_bp
    from ep_web.gestion.routes import bp as gestion_bp
    from ep_web.indicateurs.routes import bp as indicateurs_bp
    from ep_web.main.routes import bp as main_bp
    from ep_web.maintenance.routes import bp as maintenance_bp
    from ep_web.national.routes import bp as national_bp
    from ep_web.news.routes import admin_bp as caisse_news_bp
    from ep_web.news.routes import bp as news_bp
    from ep_web.notifications.routes import bp as notifications_bp
    from ep_web.ops.routes import bp as ops_bp
    from ep_web.pages import bp as pages_bp
    from ep_web.ressources.routes import admin_bp as ressources_admin_bp
    from ep_web.ressources.routes import bp as ressources_bp
    from ep_web.tickets.routes import bp as tickets_bp
    from ep_web.tickets.routes import caisse_bp as caisse_tickets_bp
    from ep_web.tickets.routes import national_bp as national_tickets_bp
    from ep_web.traitement.routes import bp as traitement_bp

    return [
        errors_bp, ops_bp, pages_bp, auth_bp, main_bp, national_bp, caisse_bp, gestion_bp,
        # Dysfunction tickets (one blueprint per side), news (partner and caisse sides), maintenance.
        tickets_bp, caisse_tickets_bp, national_tickets_bp, news_bp, caisse_news_bp, maintenance_bp,
        traitement_bp, demandes_bp, compte_bp, notifications_bp,
        indicateurs_bp, ressources_admin_bp, ressources_bp,
        # Suspected data breaches (SPEC §7): every profile.
        breaches_bp,
    ]


def _register_liveness_check(app: Flask) -> None:
    """PostgreSQL without pool_pre_ping: on checkout, a pooled connection is
    dropped (and the pool opens a fresh one, or fails with the usual
    OperationalError → the French 503 page) when psycopg knows it is broken or
    when its socket has something to read while idle — what a server that
    stopped, restarted or ended the backend leaves behind (EOF, or its
    termination message). No round trip: a healthy idle connection has
    nothing to read (tests/test_errors_database_down.py: a real server stopped
    and started again)."""
    if app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("pool_pre_ping", True):
        return
    import select as select_module

    from sqlalchemy import event
    from sqlalchemy.exc import DisconnectionError

    def alive(dbapi_connection, record, proxy):
        if dbapi_connection.closed or dbapi_connection.broken:
            raise DisconnectionError("connection closed")
        try:
            readable, _, _ = select_module.select([dbapi_connection.fileno()], [], [], 0)
        except (OSError, ValueError) as exc:
            raise DisconnectionError("connection unusable") from exc
        if readable:
            raise DisconnectionError("the server spoke to an idle connection: it went away")

    with app.app_context():
        event.listen(db.engine, "checkout", alive)


def _register_prepared_statements(app: Flask) -> None:
    """PostgreSQL: the statements marked ep_web.prepared.prepared are prepared,
    and a transaction that only read ends with COMMIT so they stay so."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return
    from ep_web import prepared

    with app.app_context():
        prepared.register(db.engine)


def _register_quiet_session_close(app: Flask) -> None:
    """Flask-SQLAlchemy closes the request's session at teardown, after the
    response is built; when the database went away during the request, that
    ROLLBACK fails too and the exception escapes past every error handler:
    gunicorn answers a bare, empty 500 instead of the French 503 page the
    request had already rendered. Registered after ``db.init_app``, this runs
    first (teardowns run in reverse order) and closes the session itself,
    logging a failure instead of raising it."""
    import logging

    @app.teardown_appcontext
    def _close_session(exc):
        try:
            db.session.remove()
        except Exception:
            logging.getLogger(__name__).warning("session closed on a lost database connection", exc_info=True)
            db.session.registry.clear()


def _register_blueprints(app: Flask) -> None:
    from ep_web.errors.handlers import register_file_errors

    for bp in _blueprints():
        app.register_blueprint(bp)
    register_file_errors(app)


@login_manager.user_loader
def _load_user(token: str):
    """The cookie names a server-side session (ep_web.domain.sessions): the
    account is loaded only through an open one, in one query. An ended session
    (logout, password changed, inactivation, closed from elsewhere) or an
    account that may no longer log in ends the request's login."""
    from ep_web.domain.sessions import load

    loaded = load(token)
    if not loaded:
        return None
    from flask import has_request_context

    if has_request_context():  # read with the user: no query of its own (ep_web.maintenance)
        request._get_current_object()._ep_versions = loaded[0].request_versions
    return loaded[0]


@login_manager.unauthorized_handler
def _unauthorized():
    from flask import request

    from ep_web.errors.handlers import redirect_to_login

    return redirect_to_login(None if request.path == "/" else "Connectez-vous pour accéder à cette page.")


def _session_ended():
    """A background poll's answer once the session is over (see ``_PASSIVE``)."""
    response = make_response("", 204)
    response.headers["X-EP-Session"] = "ended"
    return response


def _register_session_rules(app: Flask) -> None:
    @app.before_request
    def enforce_session_limits():
        if request.endpoint == "static" or request.endpoint in _PROBES:
            return None
        # The user is loaded afresh for every request, even where an app context
        # outlives one request (tests, CLI): a stale user would outlive its revocation.
        g.pop("_login_user", None)
        had_user = "_user_id" in session
        passive = request.endpoint in _PASSIVE and request.headers.get("HX-Request") == "true"
        if had_user and not current_user.is_authenticated:
            # The loader refused the account (inactivated, suspended, password changed).
            session.clear()
            if request.endpoint in _PUBLIC:
                return None
            if passive:
                return _session_ended()
            from ep_web.errors.handlers import redirect_to_login

            return redirect_to_login("Votre session a pris fin. Reconnectez-vous.")
        if not current_user.is_authenticated:
            return _session_ended() if passive else None
        from ep_web.domain import sessions
        from ep_web.transaction import commit

        user_session = current_user.current_session
        reason = sessions.timed_out(user_session)
        if reason is not None:
            sessions.end(user_session, reason)
            commit()
            from ep_web.demandes.routes import rescue_expired_post

            # A demande posted after the idle timeout is kept as a draft (SPEC §8).
            resume = rescue_expired_post(current_user._get_current_object())
            logout_user()
            session.clear()
            if request.endpoint in _PUBLIC:
                return None
            if passive:
                return _session_ended()
            from ep_web.errors.handlers import redirect_to_login

            if resume:
                return redirect_to_login("Votre session a expiré. Reconnectez-vous : votre demande n'est pas perdue, "
                                         "elle est gardée en brouillon et va s'ouvrir.", next_url=resume)
            return redirect_to_login("Votre session a expiré. Reconnectez-vous.")
        if not passive and sessions.touch(user_session):
            commit()

        from ep_web.domain.accounts import needs_cgu
        from ep_web.domain.passwords import password_expired

        if request.endpoint in _GATE_FREE:
            return None
        from ep_web.maintenance import request_versions

        if needs_cgu(current_user, request_versions().cgu_version):
            return redirect(url_for("auth.cgu", next=request.full_path if request.method == "GET" else None))
        from ep_web.auth.sessions import MFA_BY_PROVIDER
        from ep_web.domain.second_factor import enrolment_due

        # SPEC §3: after the CGU, a second factor required and missing (no grace
        # left) is enrolled before anything else — unless ProConnect vouched for one.
        if enrolment_due(current_user) and not session.get(MFA_BY_PROVIDER):
            if request.method == "GET":
                flash("Votre profil demande une double authentification : configurez-la pour continuer.", "info")
            return redirect(url_for("compte.enrol", next=request.full_path if request.method == "GET" else None))
        if password_expired(current_user):
            flash("Votre mot de passe a expiré : choisissez-en un nouveau pour continuer.", "warning")
            return redirect(url_for("auth.change_password"))
        return None

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        from ep_web.errors.handlers import render_error

        return render_error(
            400,
            "Formulaire expiré",
            "Le formulaire a expiré ou a été envoyé deux fois. Rechargez la page et recommencez.",
        )


def _register_timer(app: Flask) -> None:
    """First before_request hook: the Server-Timing header covers everything."""

    @app.before_request
    def _start_timer():
        g.ep_started = time.perf_counter()


def _register_security_headers(app: Flask) -> None:
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'{provider}; frame-ancestors 'none'"
    )

    def _csp() -> str:
        # The ProConnect button and the logout are forms whose answer redirects to
        # the provider: browsers hold redirects of a form to form-action.
        discovery = app.config.get("PROCONNECT_DISCOVERY_URL")
        if not discovery:
            return csp.format(provider="")
        from urllib.parse import urlsplit

        parts = urlsplit(discovery)
        return csp.format(provider=f" {parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "")

    @app.after_request
    def headers(response):
        h = response.headers
        h.setdefault("Content-Security-Policy", _csp())
        h["X-Content-Type-Options"] = "nosniff"
        h["X-Frame-Options"] = "DENY"
        h["Referrer-Policy"] = "same-origin"
        h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        if app.config["HTTPS"] or request.is_secure:
            h["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        if request.endpoint != "static":
            # Pages carry personal data: never kept by the browser or proxies.
            h["Cache-Control"] = "no-store"
            # Any page may answer an htmx request with a fragment (ep_web.htmx).
            response.vary.add("HX-Request")
        started = g.get("ep_started")
        if started is not None:
            elapsed = time.perf_counter() - started
            # Server time, read by bench/ scripts and browser dev tools.
            h["Server-Timing"] = f"app;dur={elapsed * 1000:.1f}"
            if request.endpoint != "static":
                from ep_web.metrics import observe

                observe(request.endpoint, request.method, response.status_code, elapsed)
        if response.status_code < 500 and request.endpoint not in _PROBES and not g.get("ep_bare"):
            from ep_web.availability import refresh_if_stale

            # The copy the 500/503 pages show when the database is down.
            refresh_if_stale(app)
        return response


def _register_template_helpers(app: Flask) -> None:
    from ep_web.nav import endpoint_url, nav_items, url_slot

    app.jinja_env.globals["url_for"] = endpoint_url
    app.jinja_env.globals["url_slot"] = url_slot

    # strftime costs about 5 µs with this format (its "à" goes through the
    # locale's encoding), formatting the fields a fifth of that: the lists
    # write two or three dates per row. Years before 1000 are left to strftime
    # (its padding there depends on the platform).
    @app.template_filter("dt")
    def format_datetime(value):
        if not value:
            return ""
        value = to_paris(value)
        if value.year < 1000:
            return value.strftime("%d/%m/%Y à %H:%M")
        return f"{value.day:02d}/{value.month:02d}/{value.year} à {value.hour:02d}:{value.minute:02d}"

    @app.template_filter("d")
    def format_date(value):
        if not value:
            return ""
        if isinstance(value, datetime):
            value = to_paris(value).date()
        if value.year < 1000:
            return value.strftime("%d/%m/%Y")
        return f"{value.day:02d}/{value.month:02d}/{value.year}"

    @app.template_filter("count")
    def format_count(value: int) -> str:
        """A result count, "plus de 1 000" past the cap of the lists."""
        from ep_web.domain.demandes import COUNT_CAP

        if value > COUNT_CAP:
            return "plus de " + f"{COUNT_CAP:,}".replace(",", "\u202f")
        return f"{value:,}".replace(",", "\u202f")

    @app.template_global()
    def id_url(endpoint: str, name: str):
        """``url_for(endpoint, name=id)`` for many ids at the cost of one call:
        the lists link each of their rows (``{% set show = id_url(...) %}``)."""
        marker = 987654321  # an id no route part holds: the URL is cut around it
        head, _, tail = url_for(endpoint, **{name: marker}).rpartition(str(marker))
        return lambda value: f"{head}{int(value)}{tail}"

    @app.template_global()
    def page_links(page: int, pages: int, window: int = 2) -> list[tuple]:
        """The links of the DSFR pagination (_ui.html): (page, text, class,
        title, "link" | "current" | "off") for first, previous, the pages
        within ``window`` of ``page``, next, last."""
        first, prev = "fr-pagination__link--first", "fr-pagination__link--prev fr-pagination__link--lg-label"
        nxt, last = "fr-pagination__link--next fr-pagination__link--lg-label", "fr-pagination__link--last"
        back = "link" if page > 1 else "off"
        ahead = "link" if page < pages else "off"
        links = [(1, "Première page", first, None, back), (page - 1, "Page précédente", prev, None, back)]
        links += [(n, n, "", f"Page {n}", "current" if n == page else "link")
                  for n in range(max(1, page - window), min(pages, page + window) + 1)]
        links += [(page + 1, "Page suivante", nxt, None, ahead), (pages, "Dernière page", last, None, ahead)]
        return links

    @app.template_global()
    def file_downloadable(attachment) -> bool:
        """SPEC §4/§8: served only when clean, or unscanned where allowed."""
        return attachment.downloadable(bool(app.config.get("ALLOW_UNSCANNED")))

    @app.template_filter("de")
    def with_de(name: str) -> str:
        """French elision: "de Accueil" → "d'Accueil", "de la Maison" unchanged."""
        if name and name[0].lower() in "aeiouyhàâäéèêëîïôöùûüœ":
            return "d'" + name
        return "de " + (name or "")

    @app.template_filter("siret")
    def format_siret(value: str | None) -> str:
        """A SIRET as people read it: 732 829 320 00074 (SIREN, then NIC)."""
        digits = "".join(ch for ch in (value or "") if ch.isdigit())
        if len(digits) != 14:
            return value or ""
        return "\u00a0".join((digits[0:3], digits[3:6], digits[6:9], digits[9:]))

    @app.context_processor
    def inject():
        if g.get("ep_bare"):  # an error page that must not touch the database
            return {"nav_items": [], "today": _today, "second_factor_grace": None}
        return {"nav_items": nav_items(), "today": _today, "second_factor_grace": _grace()}

    def _grace():
        """The end of the account's enrolment grace, for the banner (SPEC §3)."""
        from ep_web.domain.second_factor import in_grace, required

        if not current_user or not current_user.is_authenticated:
            return None
        if required(current_user) and in_grace(current_user):
            return current_user.second_factor_grace_until
        return None

    @app.template_global()
    def unread_notifications() -> int:
        """The bell's count (SPEC §6), for the header of every page."""
        from ep_web.domain.notifications import unread_count
        from ep_web.transaction import wrote

        if g.get("ep_bare") or not current_user.is_authenticated:
            return 0
        user = current_user._get_current_object()
        at_load = getattr(user, "unread_at_load", None)  # read with the user (domain.sessions.load)
        if at_load is not None and not wrote():
            return at_load
        return unread_count(user)

    @app.template_global()
    def session_idle_left() -> int:
        """Seconds before the idle timeout, counted from when the server last
        saw the session (it writes that at most once a minute): the keep-alive
        modal opens two minutes before (SPEC §8, static/js/app.js)."""
        from ep_web.domain.sessions import idle_seconds_left

        user_session = getattr(current_user, "current_session", None) if current_user.is_authenticated else None
        if g.get("ep_bare") or user_session is None:
            return int(app.config["SESSION_IDLE_MINUTES"]) * 60
        return idle_seconds_left(user_session)

    def _today() -> date:
        from ep_web.clock import today

        return today()

    @app.before_request
    def _remember_request_ip():
        g.ip = request.remote_addr or ""
