"""The caisse queue (SPEC §4 Caisse queue): order, the 48-hour clock, filters,
counts, pagination, htmx fragment, and the agent's home."""
import re

import pytest

from ep_web.domain import demandes as dm
from ep_web.models import DemandeStatus, Outcome
from ep_web.transaction import commit
from tests.factories import alpha


def _refs_in_page(html: str) -> list[str]:
    return re.findall(r'data-testid="queue-row">.*?>(EP-\d{4}-\d{6})</a>', html, re.S)


def _row(html: str, reference: str) -> str:
    for row in html.split('data-testid="queue-row"')[1:]:
        if reference in row:
            return row.split("</tr>")[0]
    raise AssertionError(f"{reference} not in the queue")


@pytest.fixture
def queue(w, new_demande, clock):
    """Six demandes created an hour apart, then the clock moved to 49 h 30 after the first."""
    q = type("Queue", (), {})()
    q.plain = new_demande(w.technicien, w.caisse, "contact", nom="Alpha")
    clock.advance(hours=1)
    q.late = new_demande(w.technicien, w.caisse, "signalement", nom="Bravo")  # due at +49 h
    clock.advance(hours=1)
    q.urgent = new_demande(w.technicien, w.caisse, "signalement", urgent=True, nom="Charlie")  # due at +50 h
    clock.advance(hours=1)
    q.soon = new_demande(w.technicien, w.caisse, "signalement", nom="Delta")  # due at +51 h
    clock.advance(hours=1)
    q.plain2 = new_demande(w.technicien, w.caisse, "document", nom="Echo")
    clock.advance(hours=1)
    q.urgent2 = new_demande(w.technicien, w.caisse, "signalement", urgent=True, nom="Foxtrot")  # due at +53 h
    new_demande(w.other_technicien, w.other_caisse, "signalement", urgent=True, nom="Ailleurs")
    clock.advance(hours=44, minutes=30)  # now: +49 h 30
    q.expected = [q.urgent, q.urgent2, q.late, q.soon, q.plain, q.plain2]
    return q


def test_queue_query_orders_urgent_then_overdue_then_due_time_then_oldest(app, w, queue):
    rows, total, pages = dm.paginate(dm.queue_query(w.agent, dm.Filters()), 1)
    assert [d.reference for d in rows] == [d.reference for d in queue.expected]
    assert total == 6 and pages == 1
    assert queue.late.sla_state == "overdue" and queue.late.is_overdue
    assert queue.soon.sla_state == "soon" and not queue.soon.is_overdue
    assert queue.plain.sla_state is None


def test_queue_page_shows_order_and_the_48h_clock(app, w, queue, login):
    client = login(w.agent)
    html = client.get("/traitement").get_data(as_text=True)
    assert _refs_in_page(html) == [d.reference for d in queue.expected]
    assert "Ailleurs" not in html  # another caisse's demande
    late = _row(html, queue.late.reference)
    assert "fr-badge--error" in late and "En retard de 30 min" in late
    assert "Reste 1 h" in _row(html, queue.soon.reference)  # due in 1 h 30
    urgent = _row(html, queue.urgent.reference)
    assert "Urgent" in urgent and "Reste 30 min" in urgent and "fr-badge--warning" in urgent
    assert "Reste 3 h" in _row(html, queue.urgent2.reference)
    assert 'data-testid="sla"' not in _row(html, queue.plain.reference)
    assert "6 demandes ouvertes" in html


def test_the_clock_moves_with_time(app, w, queue, login, clock):
    clock.advance(hours=3)  # +52 h 30
    client = login(w.agent)
    html = client.get("/traitement").get_data(as_text=True)
    assert "En retard de 3 h" in _row(html, queue.late.reference)
    assert "En retard de 1 h" in _row(html, queue.soon.reference)
    assert "Reste 30 min" in _row(html, queue.urgent2.reference)


def test_a_fresh_signalement_shows_reste_47_h(app, w, new_demande, login, clock):
    d = new_demande(w.technicien, w.caisse, "signalement")
    clock.advance(minutes=30)
    html = login(w.agent).get("/traitement").get_data(as_text=True)
    row = _row(html, d.reference)
    assert "Reste 47 h" in row and "fr-badge--info" in row


def test_filters(app, w, queue, login, new_demande):
    dm.take(w.agent2, queue.soon)
    dm.take(w.agent, queue.plain2)
    dm.close(w.agent, queue.plain, Outcome.TRAITEE.value)
    commit()
    client = login(w.agent)

    def refs(**args):
        return _refs_in_page(client.get("/traitement", query_string=args).get_data(as_text=True))

    assert queue.plain.reference not in refs()  # closed: out of the default view
    assert refs(statut="cloturee") == [queue.plain.reference]
    assert refs(statut="prise_en_charge") == [queue.soon.reference, queue.plain2.reference]
    assert refs(service="document") == [queue.plain2.reference]
    assert refs(urgent="y") == [queue.urgent.reference, queue.urgent2.reference]
    assert refs(mine="y") == [queue.plain2.reference]
    assert refs(q="delta") == [queue.soon.reference]
    assert refs(q="hortensia bravo") == []  # the search key is "nom prénom"
    assert refs(q="BRAVO Hortensia") == [queue.late.reference]
    assert refs(du="2026-03-02", au="2026-03-02") == [d.reference for d in queue.expected if d is not queue.plain]
    assert refs(du="2026-03-03") == []
    # An unreadable date is said so next to the field, and ignored.
    html = client.get("/traitement", query_string={"du": "31/02/2026"}).get_data(as_text=True)
    assert "Date invalide" in html and len(_refs_in_page(html)) == 5


def test_counts_per_status(app, w, queue, login):
    dm.take(w.agent, queue.soon)
    dm.request_complement(w.agent, queue.late, "Merci de préciser l'adresse.")
    dm.close(w.agent, queue.plain, Outcome.SANS_SUITE.value)
    commit()
    html = login(w.agent).get("/traitement").get_data(as_text=True)
    counts = html.split('data-testid="status-counts"')[1].split("</ul>")[0]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", counts))
    assert "Transmise : 3" in text
    assert "Prise en charge : 1" in text
    assert "En attente de complément : 1" in text
    assert "Clôturée : 1" in text
    # Each count is a link to that status.
    assert 'href="/traitement?statut=cloturee"' in counts


def test_counts_when_the_list_shown_is_empty(app, w, queue, login):
    """The counts usually come with the rows (one statement): a list with no
    row under its filters, or a page past the end, still counts every status."""
    for d in (queue.plain, queue.plain2):
        dm.close(w.agent, d, Outcome.SANS_SUITE.value)
    commit()
    client = login(w.agent)
    for url, expected in (("/traitement?service=contact", "Transmise : 0 Prise en charge : 0 "
                                                          "En attente de complément : 0 Clôturée : 1"),
                          ("/traitement?service=contact&page=3", "Transmise : 0 Prise en charge : 0 "
                                                                 "En attente de complément : 0 Clôturée : 1"),
                          ("/traitement?statut=cloturee&page=4", "Transmise : 4 Prise en charge : 0 "
                                                                 "En attente de complément : 0 Clôturée : 2")):
        html = client.get(url).get_data(as_text=True)
        counts = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.split('data-testid="status-counts"')[1]
                                              .split("</ul>")[0]))
        assert counts.strip(" >") == expected, url
    assert _refs_in_page(client.get("/traitement?service=contact").get_data(as_text=True)) == []
    assert _refs_in_page(client.get("/traitement?statut=cloturee&page=4").get_data(as_text=True)) == [
        queue.plain.reference, queue.plain2.reference]


def test_the_queue_page_counts_the_cockpit_tabs(app, w, queue, login):
    """The tabs' counts come with the rows (one statement) or, when the page
    has none, on their own: the home's counts either way."""
    from ep_web.domain.home import AGENT_TABS, agent_tab_counts

    dm.take(w.agent, queue.soon)
    commit()
    expected = agent_tab_counts(w.agent)
    assert expected["urgentes"] == 2 and expected["en-retard"] == 1 and expected["mes-demandes"] == 1
    client = login(w.agent)
    for url in ("/traitement", "/traitement?statut=cloturee", "/traitement?onglet=urgentes&page=5"):
        html = client.get(url).get_data(as_text=True)
        shown = {tab: int(re.search(rf'data-testid="tab-{tab}".*?ep-counter[^>]*>(\d+)<', html, re.S).group(1))
                 for tab in AGENT_TABS}
        assert shown == expected, url


def test_pagination_20_per_page(app, w, new_demande, login):
    made = [new_demande(w.technicien, w.caisse, "contact", nom=f"Personne{alpha(i)}") for i in range(23)]
    client = login(w.agent)
    first = client.get("/traitement").get_data(as_text=True)
    assert len(_refs_in_page(first)) == 20 and "page 1 sur 2" in first
    assert 'href="/traitement?page=2"' in first
    second = client.get("/traitement?page=2").get_data(as_text=True)
    assert _refs_in_page(second) == [d.reference for d in made[20:]]
    # Filters are kept in the page links.
    filtered = client.get("/traitement?service=contact&page=1").get_data(as_text=True)
    assert "/traitement?service=contact&amp;page=2" in filtered
    # Past the last page: the last page.
    assert _refs_in_page(client.get("/traitement?page=9").get_data(as_text=True)) == _refs_in_page(second)


def test_links_keep_any_typed_parameter_as_a_parameter(app, w, new_demande, login):
    """The page, tab and status links are rebuilt from the query string:
    Flask's url_for options (_method, _anchor, _external…) typed there stay
    query parameters (``?_method=POST`` was a 500)."""
    for i in range(21):
        new_demande(w.technicien, w.caisse, "contact", nom=f"Personne{alpha(i)}")
    client = login(w.agent)
    resp = client.get("/traitement?_method=POST&_anchor=x&_external=1&_scheme=javascript")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert ('href="/traitement?_method=POST&amp;_anchor=x&amp;_external=1&amp;_scheme=javascript&amp;page=2"'
            in html)
    assert "javascript:" not in html and "#x" not in html
    resp = login(w.technicien, c=app.test_client()).get("/demandes?_method=POST&_anchor=x")
    assert resp.status_code == 200
    assert 'href="/demandes?_method=POST&amp;_anchor=x&amp;page=2"' in resp.get_data(as_text=True)


def test_htmx_gets_the_results_fragment_only(app, w, queue, login):
    client = login(w.agent)
    resp = client.get("/traitement?q=delta", headers={"HX-Request": "true"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in html and "queue-filters" not in html
    assert _refs_in_page(html) == [queue.soon.reference]
    assert 'id="queue-count" hx-swap-oob="innerHTML"' in html
    assert "HX-Request" in resp.headers["Vary"]
    page = client.get("/traitement").get_data(as_text=True)
    # The page is a real GET form (works without JS) enhanced by htmx.
    form = re.search(r'<form[^>]*id="queue-filters"[^>]*>', page).group(0)
    assert 'method="get"' in form and 'hx-get="/traitement"' in form and 'hx-target="#queue-results"' in form
    assert 'hx-push-url="true"' in form and "delay:400ms" in form


def test_agent_home_is_the_cockpit_and_nav(app, w, login):
    client = login(w.agent)
    home = client.get("/").get_data(as_text=True)
    # SPEC §6: the agent's home is « À traiter », each counter a tab of the queue.
    assert "À traiter" in home and 'href="/traitement?onglet=non-prises"' in home
    html = client.get("/traitement").get_data(as_text=True)
    assert "File des demandes" in html and 'aria-current="page"' in html
    assert "Aucune demande ouverte" in html


@pytest.mark.parametrize("who", ["technicien", "gestionnaire", "admin", "national"])
def test_only_agents_see_the_queue(app, w, login, who):
    client = login(getattr(w, who))
    assert client.get("/traitement").status_code == 403


def test_no_inline_script_or_style(app, w, queue, login):
    client = login(w.agent)
    for url in ("/traitement", f"/traitement/demandes/{queue.late.id}"):
        html = client.get(url).get_data(as_text=True)
        assert "style=" not in html
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert " on" + "click=" not in html


def test_queue_counts_follow_the_other_filters(app, w, queue):
    dm.close(w.agent, queue.plain, Outcome.TRAITEE.value)
    commit()
    counts = dm.queue_counts(w.agent, dm.Filters())
    assert counts[DemandeStatus.TRANSMISE] == 5 and counts[DemandeStatus.CLOTUREE] == 1
    assert counts[DemandeStatus.PRISE_EN_CHARGE] == 0
    only_signalements = dm.queue_counts(w.agent, dm.Filters(service="signalement", status="cloturee"))
    assert only_signalements[DemandeStatus.TRANSMISE] == 4 and only_signalements[DemandeStatus.CLOTUREE] == 0
    assert sum(dm.queue_counts(w.other_agent, dm.Filters()).values()) == 1  # its own caisse only


def test_an_untaken_demande_says_so_in_the_queue(client, login, w, new_demande):
    new_demande(w.technicien, w.caisse)
    login(w.agent)
    html = client.get("/traitement").get_data(as_text=True)
    assert "Non prise en charge" in html and '<span class="ep-muted">Personne</span>' not in html
