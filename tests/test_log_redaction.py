"""Nothing personal about an insured person in any log line (SPEC §8): the
history and queue searches carry the person's name in the query string, and
browsers repeat it in the Referer and in the login page's ``next``. Checked
on the real servers' logs: gunicorn with deploy/gunicorn.conf.py, and
Werkzeug's development server (the quick start)."""
import http.cookiejar
import logging
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ep_web.logredact import redact_query, redact_text
from tests.conftest import PASSWORD
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
# Fictitious, and rare enough that a grep cannot find them by chance.
NOM, PRENOM, NE_LE = "Quillebeuf", "Zéphyrine", "14/07/1961"


class Browser:
    """A cookie-keeping HTTP client that never follows redirects by itself."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  self._NoRedirect())

    def get(self, path: str, **headers):
        request = urllib.request.Request(self.base + path, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as resp:
                return resp.status, resp.read().decode(), resp.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), exc.headers

    def post(self, path: str, data: dict):
        status, page, _ = self.get(path)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        if token is None:
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        body = urllib.parse.urlencode({**data, "csrf_token": token.group(1) if token else ""}).encode()
        request = urllib.request.Request(self.base + path, data=body)
        try:
            with self.opener.open(request, timeout=30) as resp:
                return resp.status, resp.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers


def _searches(base: str, technicien, agent) -> int:
    """What a day's work sends: searches by name and birth date, pages, htmx
    swaps, a Referer, an expired session sent to the login page. Returns how
    many request lines carried the name in ``q``."""
    sent = 0
    for account, area in ((technicien, "/demandes"), (agent, "/traitement")):
        browser = Browser(base)
        status, _ = browser.post("/connexion", {"login": account.login, "password": PASSWORD})
        assert status == 302, status
        for query in ({"q": NOM}, {"q": f"{PRENOM} {NOM}", "page": "2"}, {"q": NOM.lower(), "statut": "transmise"}):
            url = f"{area}?{urllib.parse.urlencode(query)}"
            assert browser.get(url)[0] == 200
            assert browser.get(url, **{"HX-Request": "true", "HX-Current-URL": base + url})[0] == 200
            browser.get("/compte/", Referer=base + url)
            sent += 2  # request lines (the Referer comes on top where the format shows it)
        # Parameters a crafted or older link may carry.
        browser.get(f"{area}?{urllib.parse.urlencode({'nom': NOM, 'prenom': PRENOM, 'date_naissance': NE_LE})}")
        browser.post("/deconnexion", {})
        status, _, headers = browser.get(f"{area}?q={urllib.parse.quote(NOM)}")
        assert status == 302 and "next=" in headers["Location"]
        location = headers["Location"]
        browser.get(location if location.startswith("/") else urllib.parse.urlsplit(location).path + "?"
                    + urllib.parse.urlsplit(location).query)
        sent += 2
    return sent


def _assert_clean(text: str, sent: int) -> None:
    spellings = {NOM, NOM.lower(), PRENOM, urllib.parse.quote(PRENOM), urllib.parse.quote(urllib.parse.quote(PRENOM)),
                 NE_LE, urllib.parse.quote(NE_LE, safe="")}
    leaks = [line for line in text.splitlines() if any(s.lower() in line.lower() for s in spellings)]
    assert not leaks, "\n".join(leaks[:5])
    # The searches were logged (masked): the test looked at the right lines.
    assert text.count("q=***") >= sent, text[-3000:]


@pytest.mark.one_pass("postgresql")  # about gunicorn's logs
@pytest.mark.committed
def test_gunicorn_access_and_error_logs_hold_no_name(app, make, db_url, tmp_path):
    w = make.world()
    port = free_port()
    access, errors = tmp_path / "access.log", tmp_path / "error.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EP_", "PROMETHEUS"))}
    env.update(DATABASE_URL=db_url.replace("+psycopg", ""), EP_SECRET_KEY="log-test-" + "k" * 40,
               EP_INSECURE_COOKIES="1", EP_BIND=f"127.0.0.1:{port}", EP_WEB_WORKERS="1", EP_WEB_THREADS="2",
               EP_MAIL_PRINT="0", EP_MAIL_OUTBOX_DIR=str(tmp_path / "outbox"), EP_ALLOW_UNSCANNED="1",
               PYTHONPATH=str(ROOT))
    # The production configuration, with an access log format that shows the
    # Referer and the query string on their own as well.
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "deploy/gunicorn.conf.py",
         "--access-logfile", str(access), "--error-logfile", str(errors), "--log-level", "debug",
         "--access-logformat", '%(h)s "%(r)s" %(s)s q=[%(q)s] "%(f)s" "%({referer}i)s"', "app:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        sent = _searches(base, w.technicien, w.agent)
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = access.read_text() + errors.read_text()
    _assert_clean(text, sent)
    assert "GET /demandes?q=*** HTTP/1.1" in text and "/traitement?q=***&page=2" in text


@pytest.mark.one_pass("sqlite")  # about the quick start server's log
def test_the_development_server_log_holds_no_name(app, make, tmp_path):
    """The quick start's server (Werkzeug) logs each request on the "werkzeug"
    logger; the app's own loggers go through the same guard."""
    from werkzeug.serving import make_server

    w = make.world()
    log_file = tmp_path / "dev.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    loggers = [logging.getLogger("werkzeug"), logging.getLogger("ep_web")]
    levels = [(lg.level, lg.disabled) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
        lg.disabled = False  # Alembic's logging set-up (a migration test run earlier) disables existing loggers
    app.config["WTF_CSRF_ENABLED"] = True
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sent = _searches(f"http://127.0.0.1:{server.server_port}", w.technicien, w.agent)
        logging.getLogger("ep_web.demandes").warning("slow search %s", f"/demandes?q={NOM}")
    finally:
        server.shutdown()
        for lg, (level, disabled) in zip(loggers, levels):
            lg.removeHandler(handler)
            lg.setLevel(level)
            lg.disabled = disabled
        handler.close()
    _assert_clean(log_file.read_text(encoding="utf-8"), sent)


# The fixed words of the generated lines: a "name" that is one of them proves nothing.
_FIXED = ("GET /demandes /connexion?next= HTTP/1.1 200 http://ep.test/traitement page=2 statut=transmise "
          "service=contact q nom prenom date_naissance").lower()


def _spellings(name: str) -> set:
    name = name.strip()
    return {name, urllib.parse.quote_plus(name), urllib.parse.quote(name)}


_names = st.text(alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzéèçëï ABCDEFGHIJKLMNOPQRSTUVWXYZ-'"),
                 min_size=3, max_size=30).filter(
    lambda s: len(s.strip(" -'")) >= 3 and not any(sp.lower() in _FIXED for sp in _spellings(s)))


@settings(max_examples=500, deadline=None)
@given(name=_names, other=st.sampled_from(["page=2", "statut=transmise", "service=contact", ""]),
       key=st.sampled_from(["q", "nom", "prenom", "date_naissance"]))
def test_every_spelling_of_a_name_is_masked(name, other, key):
    """Whatever the encoding (+ or %20, UTF-8 escapes, an address inside next=
    encoded once or twice), the name is not left in the line."""
    query = urllib.parse.urlencode({key: name})
    query_pct = urllib.parse.urlencode({key: name}, quote_via=urllib.parse.quote)
    for q in (query, query_pct):
        full = f"{q}&{other}" if other else q
        nested = urllib.parse.quote(f"/demandes?{full}", safe="")
        lines = [f'"GET /demandes?{full} HTTP/1.1" 200', f"GET /connexion?next={nested} HTTP/1.1",
                 f"GET /connexion?next={urllib.parse.quote(nested, safe='')} HTTP/1.1",
                 f'"GET / HTTP/1.1" 200 "http://ep.test/traitement?{full}"']
        for line in lines:
            out = redact_text(line)
            for spelling in _spellings(name):
                assert spelling not in out, (line, out)


def test_other_parameters_are_kept():
    assert redact_query("service=contact&page=3&q=Dupont") == "service=contact&page=3&q=***"
    assert redact_text("GET /demandes/42/pieces/7 HTTP/1.1") == "GET /demandes/42/pieces/7 HTTP/1.1"
