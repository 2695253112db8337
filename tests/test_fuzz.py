"""SPEC §8: no input a browser can send gives a server error.

Every route of ``app.url_map`` is requested as every profile (and anonymously)
with hostile path parameters and query strings; every form found on the pages
(parsed from the HTML, CSRF token kept) and every POST route is sent malformed
variants: huge, negative and non-numeric ids, NUL and other control
characters, very long strings, odd unicode, impossible dates, repeated keys,
missing fields, invalid UTF-8, hostile file names. Any 5xx fails the test,
with the requests that got it. The variants are sampled with a fixed seed so a
failure replays; CSRF is on, as in production.
"""
from __future__ import annotations

import io
import random
import re
import time
import traceback
from collections import Counter
from datetime import date, timedelta
from html.parser import HTMLParser
from urllib.parse import quote, urlencode, urlsplit

import pytest
from flask import g

from ep_web.domain import news as news_domain
from ep_web.domain import requests as request_domain
from ep_web.domain import tickets as ticket_domain
from ep_web.extensions import db
from ep_web.models import RequestKind
from ep_web.transaction import commit

pytestmark = pytest.mark.long

SEED = 20260302
# Stop collecting after this many failures: the first ones tell the story.
MAX_FAILURES = 25

HOSTILE_IDS = ["0", "-1", str(2**31), str(2**63), str(2**64 + 1), "9" * 40, "1.5", "1e9", " 7 ", "\uff17", "abc",
               "", "0x1F", "1;1", "[]"]
HOSTILE_TEXT = ["", " ", "\x00", "a\x00b", "\x1b[0m\x07\x08", "A" * 6000, "é" * 3000, "😀🏳️‍🌈" * 200,
                "\u202e\u200b\ufeff\u00ad", "<script>alert(1)</script>", "{{ 7*7 }}{% raw %}", "' OR 1=1 --",
                "%00%ff", "\r\n\r\nX-Injected: 1", "=HYPERLINK(\"http://x\")", "../../../etc/passwd", "\uffff\ue000",
                "\t\n\r", "null", "true", "-1", "1 85 05 78 006 084 36"]
HOSTILE_DATES = ["31/02/2026", "2026-02-30", "0000-00-00", "0001-01-01", "9999-12-31", "99999-01-01",
                 " 1 / 1 / 1 ", "2026-05-15T25:61", "\uff11\uff15/05/2026", "2026-05-15 20 : 00", "-1",
                 "0001-01-01T00:00", "9999-12-31T23:59", "15/05/2026 à 99h"]
HOSTILE_TIMES = ["25:00", "23:60", "-1:00", "14h", "14 h 30", "\uff11\uff14:30", "99999999999:00", "14:30:99", ""]
HOSTILE_SEGMENTS = ["%00", "%FF%FE", "a" * 3000, "..%2F..%2Fetc", "%F0%9F%98%80", "-1", "nouvelle", "%20"]
QUERY_KEYS = ["page", "q", "caisse_id", "statut", "status", "service", "du", "au", "date_from", "date_to",
              "departement", "gestionnaire", "job", "next", "partenaire", "caisse", "author_id", "urgent", "mine",
              "event", "actor", "fmt"]


class FormParser(HTMLParser):
    """The forms of a page: method, action and fields (name, kind, options)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: dict | None = None
        self._textarea: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"method": (a.get("method") or "get").lower(), "action": a.get("action") or "",
                          "fields": []}
            self.forms.append(self._form)
            return
        if self._form is None or not a.get("name"):
            return
        name = a["name"]
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "reset", "image"):
                return
            self._form["fields"].append({"name": name, "kind": kind, "value": a.get("value") or "",
                                         "options": [a.get("value") or "on"]})
        elif tag == "select":
            self._select = {"name": name, "kind": "select", "value": "", "options": []}
            self._form["fields"].append(self._select)
        elif tag == "textarea":
            self._textarea = {"name": name, "kind": "textarea", "value": "", "options": []}
            self._form["fields"].append(self._textarea)
        elif tag == "option" and self._select is not None:
            self._select["options"].append(a.get("value", ""))

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea["value"] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _family(field: dict) -> list[str]:
    name, kind = field["name"], field["kind"]
    if "time" in name or "heure" in name:
        return HOSTILE_TIMES
    if kind in ("date", "datetime-local") or any(k in name for k in ("date", "_on", "_at", "deadline", "du", "au")):
        return HOSTILE_DATES
    if name.endswith("_id") or name in ("id", "page") or (field["options"] and all(
            o.isdigit() for o in field["options"] if o)):
        return HOSTILE_IDS
    return HOSTILE_TEXT


def _baseline(field: dict) -> str:
    """A plausible value: what the page offers, else a harmless text."""
    if field["kind"] in ("select", "radio", "checkbox"):
        options = [o for o in field["options"] if o]
        return options[0] if options else ""
    if field["value"]:
        return field["value"]
    if "time" in field["name"] or "heure" in field["name"]:
        return "14:30"
    if field["kind"] in ("date",) or "date" in field["name"]:
        return "2026-05-15"
    if field["kind"] == "datetime-local":
        return "2026-05-15T20:00"
    if field["kind"] == "email":
        return "camille.essai@structure.example"
    return "Texte d'essai"


def _file(rng: random.Random):
    name = rng.choice(["x\x00.pdf", "../../x.pdf", "a" * 500 + ".png", "résumé.exe", "", ".pdf", "😀.jpg"])
    content = rng.choice([b"", b"%PDF-1.4\n%%EOF\n", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, bytes(range(256))])
    return (io.BytesIO(content), name)


class Fuzzer:
    def __init__(self, app, rng: random.Random):
        self.app, self.rng = app, rng
        self.sent = 0
        self.statuses: Counter = Counter()
        self.failures: list[str] = []

    def send(self, client, method: str, url: str, data=None, headers=None, **kw):
        self.sent += 1
        # The test's app context outlives the request: Flask-WTF would reuse
        # the previous request's token (kept on ``g``) instead of this session's.
        g.pop("csrf_token", None)
        try:
            resp = client.open(url, method=method, data=data, headers=headers or {}, **kw)
        except Exception:  # TESTING propagates what would have been a 500
            db.session.rollback()
            self._fail(method, url, data, "exception", traceback.format_exc(limit=-6))
            return None
        status = resp.status_code
        self.statuses[(method, status)] += 1
        body = resp.get_data()
        if status >= 500 and not (status == 503 and b"maintenance" in body.lower()):
            self._fail(method, url, data, status, body[:300].decode("utf-8", "replace"))
        return resp

    def _fail(self, method, url, data, status, detail):
        shown = {k: (v[:60] + "…" if isinstance(v, str) and len(v) > 60 else v) for k, v in (data or {}).items()} \
            if isinstance(data, dict) else (data[:120] if data else data)
        self.failures.append(f"{method} {url[:200]} {shown!r} → {status}\n{detail}")
        if len(self.failures) >= MAX_FAILURES:
            raise AssertionError("\n\n".join(self.failures))

    # ------------------------------------------------------------ GET

    def hostile_query(self) -> str:
        pairs = []
        for key in self.rng.sample(QUERY_KEYS, 3):
            family = self.rng.choice([HOSTILE_IDS, HOSTILE_TEXT, HOSTILE_DATES])
            pairs.append((key, self.rng.choice(family)[:3000]))
            if self.rng.random() < 0.3:
                pairs.append((key, self.rng.choice(family)[:100]))  # the same key twice
        query = urlencode(pairs)
        if self.rng.random() < 0.3:
            query += "&q=%FF%FE%00&page=%C0%AF"  # invalid UTF-8
        return query

    def urls(self, rule, pools: dict) -> list[str]:
        """The rule with real ids, then with hostile segments, then with a hostile query."""
        def build(pick):
            path = rule.rule
            for arg in rule.arguments:
                path = path.replace(f"<{_converter_spec(rule, arg)}>", pick(arg))
            return path

        real = build(lambda arg: str(self.rng.choice(pools.get(arg) or [1])))
        hostile = build(lambda arg: self.rng.choice(HOSTILE_IDS if arg.endswith("_id") else HOSTILE_SEGMENTS)
                        .replace(" ", "%20").replace("[", "%5B").replace("]", "%5D"))
        return [real, hostile, f"{real}?{self.hostile_query()}"]

    # ------------------------------------------------------------ forms

    def variants(self, form: dict, token: str | None) -> list:
        fields = [f for f in form["fields"] if f["name"] != "csrf_token"]
        out = []
        # Everything hostile.
        out.append({f["name"]: self.rng.choice(_family(f)) for f in fields})
        # One field at a time hostile (sampled), the others plausible.
        for target in self.rng.sample(fields, min(2, len(fields))):
            data = {f["name"]: _baseline(f) for f in fields}
            data[target["name"]] = self.rng.choice(_family(target))
            out.append(data)
        # Half the fields missing, the others repeated.
        kept = self.rng.sample(fields, len(fields) // 2)
        out.append({f["name"]: [self.rng.choice(_family(f)), _baseline(f)] for f in kept})
        for data in out:
            for f in fields:
                if f["kind"] == "file" and f["name"] in data:
                    data[f["name"]] = [_file(self.rng) for _ in range(self.rng.randint(0, 2))]
            if token is not None:
                data["csrf_token"] = token if self.rng.random() > 0.1 else self.rng.choice(HOSTILE_TEXT)
        return out

    def send_form(self, client, form: dict, page_url: str, token: str | None):
        action = form["action"] or page_url
        if not action.startswith("/"):
            return
        for data in self.variants(form, token):
            headers = {"HX-Request": "true"} if self.rng.random() < 0.3 else {}
            if form["method"] == "get":
                flat = [(k, v) for k, vs in data.items() for v in (vs if isinstance(vs, list) else [vs])
                        if isinstance(v, str)]
                self.send(client, "GET", f"{urlsplit(action).path}?{urlencode(flat)}", headers=headers)
            else:
                self.send(client, "POST", action, data=data, headers=headers)
        if form["method"] == "post" and token is not None:
            # Raw body: invalid UTF-8 and a NUL in the values, the token kept.
            raw = "&".join(f"{quote(f['name'])}=%FF%00%C3" for f in form["fields"] if f["name"] != "csrf_token")
            self.send(client, "POST", action, data=f"csrf_token={quote(token)}&{raw}".encode(),
                      content_type="application/x-www-form-urlencoded")


def _converter_spec(rule, arg: str) -> str:
    """The ``<conv:arg>`` text of ``arg`` in the rule."""
    match = re.search(rf"<([^<>]*:)?{arg}>", rule.rule)
    return match.group(0)[1:-1]


def _token(html: str) -> str | None:
    for form in _forms(html):
        for f in form["fields"]:
            if f["name"] == "csrf_token" and f["value"]:
                return f["value"]
    return None


def _forms(html: str) -> list[dict]:
    parser = FormParser()
    parser.feed(html)
    return parser.forms


@pytest.fixture
def fuzz_world(app, make, clock, new_demande_for_fuzz):
    w = make.world()
    w.demande = new_demande_for_fuzz(w.technicien, w.caisse)
    w.ticket = ticket_domain.open_ticket(w.technicien, caisse_id=w.caisse.id, subject="Page blanche",
                                         description="La page reste blanche après l'envoi.", area="autre")
    w.news = news_domain.create_news(w.admin, title="Nouvelle procédure", body="Un **texte**.",
                                     publish_at=clock.now() - timedelta(hours=1))
    w.request = request_domain.file_request(w.gestionnaire, w.caisse, RequestKind.MODIFICATION,
                                            data={"civilite": "Mme", "nom": "Exemple", "prenom": "Camille",
                                                  "telephone": "01 23 45 67 89",
                                                  "email": f"camille@{w.partenaire.domain_list[0]}"},
                                            target_id=w.gestionnaire2.id)
    commit()
    return w


@pytest.fixture
def new_demande_for_fuzz(app):
    from ep_web.domain import demandes as dm

    def _new(technicien, caisse):
        d = dm.create_demande(technicien, dm.DemandeInput(
            service="contact", caisse_id=caisse.id, civilite="Mme", nom="Exemple", prenom="Camille",
            date_naissance=date(1980, 5, 17), departement="74",
            details={"subject": "Question sur les droits", "message": "Merci de rappeler la structure."},
            duplicate_confirmed=True))
        commit()
        return d

    return _new


# One test per profile (and anonymous): each on a world of its own, so that the
# acts of one profile (a caisse suspending a partner, the national admin
# inactivating an account) cannot end another's sessions, and pytest-xdist
# spreads the six over its workers instead of one worker running them all.
PROFILES = ["anonyme", "technicien", "gestionnaire", "agent", "admin", "national"]


@pytest.mark.parametrize("profile", PROFILES)
def test_no_input_gives_a_server_error(app, fuzz_world, login, capsys, profile):
    w = fuzz_world
    app.config["WTF_CSRF_ENABLED"] = True
    rng = random.Random(f"{SEED}-{profile}")
    fuzzer = Fuzzer(app, rng)
    pools = {
        "demande_id": [w.demande.id], "ticket_id": [w.ticket.id], "news_id": [w.news.id],
        "request_id": [w.request.id], "partenaire_id": [w.partenaire.id, w.other_partenaire.id],
        "convention_id": [c.id for c in w.partenaire.conventions], "caisse_id": [w.caisse.id, w.other_caisse.id],
        "account_id": [w.technicien.id, w.gestionnaire2.id, w.agent.id, w.admin.id, w.other_technicien.id],
        "token": ["x" * 43], "service": ["contact", "signalement", "document", "etude_dossier", "rendez_vous",
                                          "suivi_ame"],
        "fmt": ["csv", "xlsx"], "filename": ["css/app.css"],
    }
    rules = [r for r in app.url_map.iter_rules() if r.endpoint not in ("static", "auth.logout", "ops.metrics")]
    account = None if profile == "anonyme" else getattr(w, profile)
    started = time.monotonic()
    _fuzz_as(app, fuzzer, login, account, rules, pools)
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(f"\nfuzz ({profile}): {fuzzer.sent} requests in {elapsed:.1f} s, {len(fuzzer.failures)} server errors; "
              f"{sorted(fuzzer.statuses.items())}")
    assert not fuzzer.failures, "\n\n".join(fuzzer.failures)


def _fuzz_as(app, fuzzer: Fuzzer, login, account, rules, pools: dict) -> None:
    """Every GET route, then every form of the pages seen, then every POST route, as ``account``."""
    rng = fuzzer.rng
    client = app.test_client()

    def fresh_token(url: str = "/") -> str | None:
        """The session's CSRF token, logging in again if a request ended the session."""
        g.pop("csrf_token", None)
        resp = client.get(url, follow_redirects=account is not None and url == "/")
        if account is not None and (resp.status_code == 302 and "/connexion" in resp.headers["Location"]
                                    or resp.request.path == "/connexion"):
            app.config["WTF_CSRF_ENABLED"] = False
            try:
                login(account, c=client)
            except AssertionError:  # the account itself was inactivated by an earlier request
                return None
            finally:
                app.config["WTF_CSRF_ENABLED"] = True
            g.pop("csrf_token", None)
            resp = client.get(url)
        return _token(resp.get_data(as_text=True)) if resp.status_code == 200 else None

    fresh_token("/connexion" if account is None else "/")
    pages: list[tuple[str, str]] = []
    for rule in (r for r in rules if "GET" in r.methods):
        real, hostile, queried = fuzzer.urls(rule, pools)
        resp = fuzzer.send(client, "GET", real)
        if resp is not None and resp.status_code == 200 and "text/html" in resp.content_type:
            pages.append((real, resp.get_data(as_text=True)))
        # A page this profile may not see stops before reading the query: its path is enough.
        if resp is None or resp.status_code >= 300:
            # Refused before reading anything: only the converters of its path are left to try.
            if rule.arguments and rng.random() < 0.5:
                fuzzer.send(client, "GET", hostile)
            continue
        for url in (hostile, queried):
            fuzzer.send(client, "GET", url, headers={"HX-Request": "true"} if rng.random() < 0.25 else {})
    seen = set()
    for url, html in pages:
        token = None
        for form in _forms(html):
            key = (form["method"], form["action"] or url, tuple(sorted(f["name"] for f in form["fields"])))
            if key in seen or "deconnexion" in (form["action"] or ""):
                continue
            seen.add(key)
            if form["method"] == "post" and token is None:
                token = fresh_token(url)
            fuzzer.send_form(client, form, url, token)
    token = fresh_token()
    for rule in (r for r in rules if "POST" in r.methods):
        url = fuzzer.urls(rule, pools)[rng.choice([0, 0, 1])]
        data = {k: rng.choice(rng.choice([HOSTILE_IDS, HOSTILE_TEXT, HOSTILE_DATES]))
                for k in rng.sample(QUERY_KEYS + ["reason", "body", "mode", "target_id", "files"], 5)}
        if token:
            data["csrf_token"] = token
        fuzzer.send(client, "POST", url, data=data)


@pytest.mark.parametrize("content_type, body", [
    ("multipart/form-data", b"--x\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\nA"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\nA"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"\x00\"; filename=\"\x00\"\r\n"
                                        b"\r\n\x00\r\n--x--\r\n"),
    ("application/json", b'{"subject": "\\u0000", "caisse_id": 99999999999999999999}'),
    ("application/x-www-form-urlencoded; charset=latin-1", "subject=\xe9t\xe9&area=autre".encode("latin-1")),
    ("text/plain", b"\xff\xfe\x00"),
])
def test_malformed_bodies_are_not_server_errors(app, make, login, content_type, body):
    w = make.world()
    client = login(w.technicien)
    for url in ("/tickets/nouveau", "/demandes/nouvelle/contact", "/connexion"):
        resp = client.post(url, data=body, content_type=content_type)
        assert resp.status_code < 500, (url, resp.status_code)
