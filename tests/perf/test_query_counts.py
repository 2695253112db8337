"""The SQL statements a page costs: what every request needs stays small (the
user, then the CGU version and the maintenance token in one query), and the
history and the queue read one page of rows in one query whatever the number
of demandes, authors, caisses or structures — an N+1 coming back fails here."""
from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy import event

from ep_web.domain import demandes as dm
from ep_web.extensions import db
from ep_web.models import Service
from ep_web.transaction import commit

HTMX = {"HX-Request": "true"}


@contextmanager
def statements():
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def _letters(k: int) -> str:
    """0 → "a", 25 → "z", 26 → "ba"…: names hold letters only."""
    out = ""
    while True:
        k, r = divmod(k, 26)
        out = "abcdefghijklmnopqrstuvwxyz"[r] + out
        if not k:
            return out


def _demande(author, caisse, nom, service="contact", n=0):
    details = {"contact": {"subject": "Objet", "message": "Message."},
               "signalement": {"difficulty_kinds": ["droits"], "message": "Situation."}}[service]
    d = dm.create_demande(author, dm.DemandeInput(
        service=service, caisse_id=caisse.id, civilite="M.", nom=nom, prenom="Jean",
        date_naissance=date(1950 + n % 50, 1 + n % 12, 1 + n % 28), departement=caisse.departement_list[0],
        details=details, consent=service == "signalement"))
    commit()
    return d


@pytest.fixture
def world(make):
    w = type("W", (), {})()
    w.caisse = make.caisse(name="CPAM Essai-Nord fictive", departements="74")
    w.caisse2 = make.caisse(name="CPAM Essai-Sud fictive", departements="73")
    w.partenaire = make.partenaire(w.caisse, name="CCAS d'Essai")
    make.convention(w.partenaire, w.caisse2, services=[Service.CONTACT])
    w.techniciens = [make.technicien(w.partenaire, nom=f"Essai{_letters(k)}", prenom="Tech") for k in range(4)]
    w.agents = [make.agent(w.caisse) for _ in range(3)]
    w.other = make.partenaire(w.caisse, name="Association Essai-Bis")
    w.other_technicien = make.technicien(w.other)
    return w


def _fill(w, n: int, k: int = 0) -> None:
    """n demandes from every technicien, to both caisses, taken by different agents
    (people numbered from ``k``)."""
    for tech in w.techniciens:
        for _ in range(n):
            k += 1
            caisse = w.caisse2 if k % 3 == 0 else w.caisse  # the second caisse has contact only
            d = _demande(tech, caisse, f"Personne{_letters(k)}", n=k,
                         service="signalement" if k % 4 == 0 and caisse is w.caisse else "contact")
            if d.caisse_id == w.caisse.id and k % 2 == 0:
                dm.take(w.agents[k % 3], d)
                commit()
    for j in range(n):
        _demande(w.other_technicien, w.caisse, f"Autre{_letters(k + j)}", n=j)


def _count(client, url, headers=None) -> int:
    client.get(url, headers=headers)  # warm: the first request loads what a process keeps
    with statements() as seen:
        resp = client.get(url, headers=headers)
    assert resp.status_code == 200, url
    return len(seen)


PAGES = {
    "history": ("technicien", "/demandes", None),
    "history, filtered and searched": ("technicien", "/demandes?service=contact&status=transmise&q=pers", None),
    "history fragment": ("technicien", "/demandes?q=pers", HTMX),
    "queue": ("agent", "/traitement", None),
    "queue, searched": ("agent", "/traitement?q=pers&service=contact", None),
    "queue fragment": ("agent", "/traitement?q=pers", HTMX),
    "history fragment, filtered": ("technicien", "/demandes?service=contact", HTMX),
    "queue fragment, filtered": ("agent", "/traitement?service=contact", HTMX),
    "technicien home": ("technicien", "/", None),
    "agent home": ("agent", "/", None),
}
# Every request: the session and its account, with the CGU version, the maintenance token and the
# header bell's unread count (1; the bell asks again only after the request wrote). The history: its
# caisses (filter choices and the hidden ones of ended conventions) with its authors (full page: 1
# query for both), then the rows with their capped count (1) — with a name search, a capped count
# (1) and the rows (1). The queue: the rows with the capped counts per status and, on the full
# page, the tabs' capped counts (1) — with a name search, the capped counts (1), the rows (1) and
# the tabs' counts (full page, 1).
# A name search on PostgreSQL first probes the list's first index entries (ep_web.domain.demandes
# SEARCH_PROBE): the history's probe counts a small structure by itself (it stands for the count;
# SQLite has no probe: its count comes with the rows); the queue's probe reads its open and closed
# demandes together, and counts a small caisse by itself too (it stands for the capped counts).
EXPECTED = {"history": 3, "history, filtered and searched": 4, "history fragment": 4,
            "queue": 2, "queue, searched": 4, "queue fragment": 3,
            "history fragment, filtered": 3, "queue fragment, filtered": 2,
            # The homes: the technicien's caisse cards with its counters' scope (1) and its counters (1);
            # the agent's tab counts (1).
            "technicien home": 3, "agent home": 2}
EXPECTED_SQLITE = {**EXPECTED, "history, filtered and searched": 3, "history fragment": 3}


@pytest.mark.parametrize("page", list(PAGES))
def test_list_pages_cost_a_fixed_number_of_queries(app, world, login, client, page):
    profile, url, headers = PAGES[page]
    user = world.techniciens[0] if profile == "technicien" else world.agents[0]
    _fill(world, 2)
    login(user)
    small = _count(client, url, headers)
    _fill(world, 8, k=100)  # more demandes, authors and agents on the page
    assert _count(client, url, headers) == small, "the number of queries grows with the rows: an N+1"
    assert small == (EXPECTED if db.engine.dialect.name == "postgresql" else EXPECTED_SQLITE)[page]


def test_the_history_shows_the_joined_names(app, world, login, client):
    _fill(world, 1)
    login(world.techniciens[0])
    html = client.get("/demandes").get_data(as_text=True)
    assert "Tech Essaid" in html and "CPAM Essai-Sud fictive" in html and "Personnee Jean" in html
    assert "Autre0" not in html  # another structure's demande


@pytest.mark.parametrize("url", ["/demandes?page=99999", "/demandes?q=pers&page=99999", "/traitement?page=99999",
                                 "/traitement?statut=transmise&page=123456789", "/traitement?q=pers&page=99999"])
def test_a_page_far_past_the_end_reads_no_further_than_the_last_page_a_list_can_have(
        app, world, login, client, monkeypatch, url):
    """?page=99999 shows the last page without asking the database to skip
    two million entries first (the rows were read with that offset, then the
    count, then the last page: 40 ms on the largest structure at 5 M)."""
    monkeypatch.setattr(dm, "COUNT_CAP", 40)  # a list has at most 2 pages of 20
    _fill(world, 12)
    login(world.techniciens[0] if url.startswith("/demandes") else world.agents[0])
    offsets: list = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if isinstance(parameters, dict):
            offsets.extend(v for k, v in parameters.items() if "offset" in k)
        else:  # SQLite: positional, the offset follows the limit of 20
            offsets.extend(parameters[i + 1] for i, v in enumerate(parameters[:-1]) if v == 20)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        html = client.get(url).get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert "page 2 sur 2" in html.replace("\u202f", " ") or "Page 2 sur 2" in html, html[-3000:]
    assert offsets and max(offsets) <= 20, offsets
