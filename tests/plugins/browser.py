"""Browser fixtures, a pytest plugin (``pytest_plugins`` in tests/conftest.py) so
that every test folder uses the same ones: the real application served over
HTTP in a background thread, driven by Debian's Chromium through Playwright,
with e-mails received by a real SMTP server (aiosmtpd).

Fixtures
- ``smtp_server``: an aiosmtpd ``Controller`` on 127.0.0.1; ``smtp_server.wait_for(to)``
  waits (bounded) for a message and ``.link(to, pattern)`` pulls a link out of it.
- ``live_server``: one app per worker (real CSRF, real clock, SMTP to the test's
  ``smtp_server``) served on a free port, on the worker's database emptied for
  each test; ``with live_server.seed() as make:`` gives a ``tests.factories.Factory``
  inside that app (read the values you need inside the block).
- ``page``: a fresh browser context per test (default timeout 10 s); CSP
  violations and uncaught JavaScript errors fail the test.
- ``screenshot(page, name)``: writes ``ep-<name>.png`` to ``$EP_BROWSER_SCREENSHOTS`` when set.

Helpers to import from here: ``log_in`` (password, then the second factor's code
when the page asks for it), ``enrol_second_factor`` (reads the secret the page
shows, as a person would type it into their phone), ``axe_check`` (axe-core on
the current page, no serious/critical violation allowed), ``require_playwright``.

The served app's clock is ``live_server.app.extensions["ep_clock"]``: a test may
put a ``FrozenClock`` there (``live_server.freeze()``); each test starts on the real clock.

Every browser test carries ``@pytest.mark.browser`` (``-m "not browser"`` leaves them out).
When /usr/bin/chromium is missing they are skipped, except with ``CI=true`` where that fails.
"""
import email
import email.policy
import logging
import os
import re
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ep_web import create_app
from ep_web.clock import Clock
from ep_web.extensions import db
from ep_web.mail import PENDING_KEY

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
MAIL_TIMEOUT_S = 10.0
AXE_JS = ROOT / "static" / "vendor" / "axe" / "axe.min.js"
AXE_URL = "/static/vendor/axe/axe.min.js"


def _unavailable(reason: str):
    """No browser here: skip, but never silently on CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run on CI: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_playwright():
    """``playwright.sync_api``, for test modules (``expect``); skips them when it is not installed."""
    try:
        import playwright.sync_api as api
    except ImportError:
        _unavailable("the Python package playwright is not installed (pip install -e '.[test]')")
    return api


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- SMTP

@dataclass
class ReceivedMail:
    to: list[str]
    subject: str
    text: str
    html: str
    raw: bytes = field(repr=False)

    def link(self, pattern: str) -> str:
        """The first match of ``pattern`` in the text body (group 1 if the pattern has a group)."""
        match = re.search(pattern, self.text)
        assert match, f"no link matching {pattern!r} in the e-mail « {self.subject} »:\n{self.text}"
        return match.group(1) if match.groups() else match.group(0)


class _MailHandler:
    """aiosmtpd handler: parse each message with the ``email`` package and keep it."""

    def __init__(self):
        self.messages: list[ReceivedMail] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        plain = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        mail = ReceivedMail(
            to=[addr.lower() for addr in envelope.rcpt_tos],
            subject=str(msg["Subject"] or ""),
            text=plain.get_content() if plain is not None else "",
            html=html.get_content() if html is not None else "",
            raw=raw,
        )
        with self.arrived:
            self.messages.append(mail)
            self.arrived.notify_all()
        return "250 Message accepted for delivery"


class MailCatcher:
    def __init__(self, controller, handler: _MailHandler):
        self.controller = controller
        self.handler = handler
        self.host = controller.hostname
        self.port = controller.port

    @property
    def messages(self) -> list[ReceivedMail]:
        with self.handler.arrived:
            return list(self.handler.messages)

    def wait_for(self, to: str, timeout: float = MAIL_TIMEOUT_S) -> ReceivedMail:
        """Wait (at most ``timeout`` seconds) for the first message to ``to``.

        Waits on the handler's condition, woken by each arrival: an event, not a sleep."""
        to = to.lower()

        def found():
            return next((m for m in self.handler.messages if to in m.to), None)

        with self.handler.arrived:
            mail = self.handler.arrived.wait_for(found, timeout=timeout)
            received = [(m.to, m.subject) for m in self.handler.messages]
        assert mail is not None, f"no e-mail to {to} within {timeout} s; received: {received}"
        return mail

    def link(self, to: str, pattern: str, timeout: float = MAIL_TIMEOUT_S) -> str:
        return self.wait_for(to, timeout).link(pattern)


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    handler = _MailHandler()
    for attempt in range(3):  # the free port may be taken between probe and bind
        controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
        try:
            controller.start()
            break
        except Exception:
            if attempt == 2:
                raise
    try:
        yield MailCatcher(controller, handler)
    finally:
        controller.stop()


# --------------------------------------------------------------------------- live server

_SERVED: dict = {}  # the live app, for the helpers that compute a code on its clock


class LiveServer:
    def __init__(self, app, server):
        self.app = app
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_port}"

    def freeze(self, at=None):
        """Put a FrozenClock (now, to the second, unless ``at``) on the served app; returns it."""
        from datetime import datetime, timezone

        from ep_web.clock import FrozenClock

        clock = FrozenClock(at or datetime.now(timezone.utc).replace(microsecond=0))
        self.app.extensions["ep_clock"] = clock
        return clock

    def now(self):
        return self.app.extensions["ep_clock"].now()

    @contextmanager
    def seed(self):
        """An app context of the served app with a Factory on the real clock.

        Commit what you create (the factory commits; after a domain call, use
        ``ep_web.transaction.commit()`` so queued e-mails leave through SMTP).
        Objects are expired and detached after the block: read values inside it."""
        from tests.factories import Factory

        with self.app.app_context():
            try:
                yield Factory(Clock())
                session = db.session()
                assert not session.info.get(PENDING_KEY), "e-mails queued but not sent: call transaction.commit()"
                assert not (session.new or session.dirty or session.deleted), (
                    "uncommitted seed data: call ep_web.transaction.commit()"
                )
            finally:
                db.session.remove()


class _ErrorLog(logging.Handler):
    """Keeps what the app logs at ERROR: unhandled exceptions (rendered as the 500
    page by ep_web.errors) and failed in-process jobs."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture(scope="session")
def _live_app(database, _session_app, tmp_path_factory):
    """One served app per worker (building one costs as much as a short test),
    started on a free port; ``live_server`` hands it to each test in a clean state.
    It needs the worker's database migrated, hence ``_session_app``."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    from tests.conftest import TEST_CONFIG

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, code="-", size="-"):  # errors are still logged
            pass

    app = create_app(
        {
            **TEST_CONFIG,
            "SQLALCHEMY_DATABASE_URI": database.url,
            "WTF_CSRF_ENABLED": True,
            "SECRET_KEY": "browser-tests",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_USER": "",
            "SMTP_STARTTLS": False,
            "SMTP_SSL": False,
            "MAIL_OUTBOX_DIR": str(tmp_path_factory.mktemp("live-outbox")),
            "UPLOAD_DIR": str(tmp_path_factory.mktemp("live-uploads")),
        },
        environ={},
    )
    database.tune(app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    live = LiveServer(app, server)
    app.config["BASE_URL"] = live.url
    live.pristine_config = dict(app.config)
    thread = threading.Thread(target=server.serve_forever, name="ep-live-server", daemon=True)
    thread.start()
    try:
        yield live
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def live_server(_live_app, database, smtp_server):
    """The served app on an emptied database, sending to this test's SMTP server;
    anything it logs at ERROR fails the test. Its data is committed for real
    (the server's threads have their own connections), then wiped."""
    app = _live_app.app
    app.config.clear()
    app.config.update(_live_app.pristine_config, SMTP_PORT=smtp_server.port)
    app.extensions["ep_clock"] = Clock()  # a test that froze it does not leak its clock
    _SERVED["live"] = _live_app
    database.reset(app)
    error_log = _ErrorLog()
    app.logger.addHandler(error_log)  # the "ep_web" logger: app, domain and jobs
    try:
        yield _live_app
    finally:
        app.logger.removeHandler(error_log)
        database.clean(app)
    if error_log.lines:
        pytest.fail("the live server logged errors:\n" + "\n".join(error_log.lines), pytrace=False)


# --------------------------------------------------------------------------- browser

@pytest.fixture(scope="session")
def _browser():
    """One Playwright driver and one Chromium per worker."""
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    pw = require_playwright().sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    except Exception:
        pw.stop()
        raise
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"_ep_report_{report.when}", report)


@pytest.fixture
def page(_browser, live_server, request, tmp_path):
    expect = require_playwright().expect
    # Reduced motion: the DSFR then drops its collapse and modal transitions, which
    # Playwright would otherwise wait out before each click.
    context = _browser.new_context(
        base_url=live_server.url, locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900},
        reduced_motion="reduce",
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    pg = context.new_page()
    problems: list[str] = []
    # A CSP refusal (inline script or style) or an uncaught JS error is a bug.
    pg.on("console", lambda msg: problems.append(f"console: {msg.text}")
          if msg.type == "error" and "Content Security Policy" in msg.text else None)
    pg.on("pageerror", lambda exc: problems.append(f"JavaScript error on {pg.url}: {exc.stack or exc}"))
    yield pg
    report = getattr(request.node, "_ep_report_call", None)
    if report is not None and report.failed:
        folder = Path(os.environ.get("EP_BROWSER_SCREENSHOTS") or tmp_path)
        path = folder / f"ep-failed-{request.node.name}.png"
        try:
            pg.screenshot(path=str(path), full_page=True)
            print(f"\nscreenshot of the failure: {path} (page {pg.url})")
        except Exception as exc:  # the page may be gone
            print(f"\nno screenshot of the failure: {exc}")
    context.close()
    assert not problems, "the browser reported:\n" + "\n".join(problems)


@pytest.fixture
def screenshot():
    """Write ep-<name>.png to $EP_BROWSER_SCREENSHOTS (for a human to look at); no-op otherwise."""

    def _shot(pg, name: str):
        folder = os.environ.get("EP_BROWSER_SCREENSHOTS")
        if folder:
            pg.screenshot(path=str(Path(folder) / f"ep-{name}.png"), full_page=True)

    return _shot


# --------------------------------------------------------------------------- accessibility

def axe_violations(page, impacts=("serious", "critical")) -> list[dict]:
    """Run axe-core on the current page; the violations of the given impacts.

    The script is loaded by URL from the served app (same origin: allowed by the
    CSP ``script-src 'self'``), never injected inline."""
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: run `python3 scripts/dev.py install`", pytrace=False)
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_URL)
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [v for v in results["violations"] if v.get("impact") in impacts]


def format_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:10]:
            target = " ".join(map(str, node["target"]))
            summary = " ".join(part.strip() for part in (node.get("failureSummary") or "").splitlines() if part.strip())
            lines.append(f"    {target}: {summary[:300]}")
    return "\n".join(lines)


def axe_check(page) -> list[dict]:
    """Fail on any serious or critical axe-core violation of the current page."""
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n{format_violations(violations)}"
    return violations


def current_code(secret: str | None = None, login: str | None = None) -> str:
    """What the phone shows now, on the served app's clock. With ``login``, the
    account's replay memory is forgotten first (a test that logs the same account
    in twice within 30 s would otherwise type a used code: refused)."""
    from ep_web.domain.second_factor import current_code as code_now
    from ep_web.models import Account
    from tests.conftest import TOTP_SECRET

    live = _SERVED["live"]
    with live.app.app_context():
        if login:
            db.session.execute(db.update(Account).where(Account.login == login).values(totp_last_step=None))
            db.session.commit()
        code = code_now(secret or TOTP_SECRET)
        db.session.remove()
    return code


def log_in(page, login: str, password: str | None = None, secret: str | None = None) -> None:
    """Log in through the real form (real CSRF), as a person would: the password,
    then the code of the second factor (``secret``, the factory's by default) when asked."""
    from tests.conftest import PASSWORD

    page.goto("/connexion")
    page.get_by_role("textbox", name="Identifiant").fill(login)
    page.get_by_role("textbox", name="Mot de passe", exact=True).fill(password or PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()
    if page.url.endswith("/connexion/code"):
        page.get_by_label("Code de vérification").fill(current_code(secret, login))
        page.get_by_role("button", name="Valider").click()
        page.wait_for_load_state()


def enrol_second_factor(page) -> tuple[str, list[str]]:
    """On the enrolment page: read the secret shown for manual entry, type the
    code it gives, and return (secret, the recovery codes shown once), then continue."""
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    page.get_by_label("Code affiché par l'application").fill(current_code(secret))
    page.get_by_role("button", name="Activer la double authentification").click()
    page.wait_for_load_state()
    codes = [c.strip() for c in page.get_by_test_id("recovery-codes").locator("code").all_inner_texts()]
    page.get_by_role("link", name="J'ai noté mes codes, continuer").click()
    page.wait_for_load_state()
    return secret, codes
