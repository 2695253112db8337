"""The technicien's history (SPEC §4 History): every demande of the structure,
filters, search by the person's name, 20 per page, updated in place by htmx
(URL pushed) and the same page without JavaScript."""
import html as html_lib
import re
from datetime import date

import pytest

from ep_web.domain import demandes as dm
from ep_web.models import Service
from ep_web.transaction import commit
from tests.demandes.test_routes_partner import HTMX, body
from tests.factories import alpha


def _demande(author, caisse, nom, prenom="Jean", service="contact", **over):
    details = {
        "contact": {"subject": "Objet", "message": "Message."},
        "signalement": {"difficulty_kinds": ["droits"], "message": "Situation."},
        "document": {"document_kind": "attestation_droits"},
    }[service]
    data = dict(service=service, caisse_id=caisse.id, civilite="M.", nom=nom, prenom=prenom,
                date_naissance=date(1975, 3, 4), departement=caisse.departement_list[0], details=details,
                consent=service == "signalement")
    data.update(over)
    d = dm.create_demande(author, dm.DemandeInput(**data))
    commit()
    return d


def rows(resp) -> list[str]:
    return re.findall(r'<tr data-testid="history-row">(.*?)</tr>', body(resp), re.S)


def refs(resp) -> list[str]:
    return re.findall(r"EP-\d{4}-\d{6}", " ".join(rows(resp)))


@pytest.fixture
def history(w, clock):
    """Demandes of both techniciens of the structure (two caisses), of another structure."""
    h = type("H", (), {})()
    h.mine = _demande(w.technicien, w.caisse, "Martin", "Léa")
    clock.advance(days=2)
    h.colleague = _demande(w.colleague, w.caisse, "Lefèvre", "Éric", service="signalement", urgent=True,
                           details={"difficulty_kinds": ["soins"], "message": "Situation.",
                                    "urgency_reason": "soins_imminents"})
    clock.advance(days=2)
    h.other_caisse = _demande(w.technicien, w.caisse73, "Moreau", "Anne")
    clock.advance(days=2)
    h.closed = _demande(w.colleague, w.caisse, "Garcia", "Lucas", service="document")
    dm.close(w.agent, h.closed, "traitee")
    commit()
    h.foreign = _demande(w.other_technicien, w.caisse, "Etranger", "Zoé")
    return h


def test_all_demandes_of_the_structure_newest_first_with_their_columns(client, login, w, history):
    login(w.technicien)
    resp = client.get("/demandes")
    assert resp.status_code == 200
    h = history
    assert refs(resp) == [h.closed.reference, h.other_caisse.reference, h.colleague.reference, h.mine.reference]
    assert h.foreign.reference not in body(resp) and "Etranger" not in body(resp)
    row = next(r for r in rows(resp) if h.colleague.reference in r)
    for expected in ("Lefèvre Éric", "CPAM de Haute-Savoie fictive", "Paul Bernard", "Transmise", "Urgent",
                     "Délai de 48 h dépassé", Service.SIGNALEMENT.label, "04/03/2026"):
        assert expected in html_lib.unescape(row), expected
    closed = next(r for r in rows(resp) if h.closed.reference in r)
    assert "Clôturée" in closed and 'data-testid="sla"' not in closed
    assert f'href="/demandes/{h.mine.id}"' in resp.get_data(as_text=True)
    assert "4 demandes" in body(resp)


@pytest.mark.parametrize("query,expected", [
    ("service=signalement", ["colleague"]),
    ("status=cloturee", ["closed"]),
    ("status=transmise", ["other_caisse", "colleague", "mine"]),
    ("caisse_id={caisse73}", ["other_caisse"]),
    ("author_id={colleague}", ["closed", "colleague"]),
    ("date_from=2026-03-04&date_to=2026-03-06", ["other_caisse", "colleague"]),
    ("date_from=06/03/2026", ["closed", "other_caisse"]),
    ("q=lefevre", ["colleague"]),
    ("q=LÉA", ["mine"]),
    ("q=eric+lef", []),
    ("q=lefevre+er", ["colleague"]),
    ("service=contact&caisse_id={caisse}", ["mine"]),
])
def test_filters_and_search_by_name(client, login, w, history, query, expected):
    login(w.technicien)
    url = "/demandes?" + query.format(caisse73=w.caisse73.id, caisse=w.caisse.id, colleague=w.colleague.id)
    resp = client.get(url)
    assert resp.status_code == 200
    assert refs(resp) == [getattr(history, name).reference for name in expected]
    if not expected:
        assert "Aucune demande ne correspond à ces filtres." in body(resp)


def test_filter_choices_are_the_structures_caisses_and_techniciens(client, login, w, history):
    login(w.technicien)
    text = body(client.get("/demandes"))
    select = re.search(r'<select[^>]*name="author_id".*?</select>', text, re.S).group(0)
    assert "Paul Bernard" in select and "Alice Durand" in select
    assert w.other_technicien.nom not in select and w.gestionnaire.nom not in select
    caisses = re.search(r'<select[^>]*name="caisse_id".*?</select>', text, re.S).group(0)
    assert "CPAM de Savoie fictive" in caisses and "CPAM de Haute-Savoie fictive" in caisses


def test_filters_are_kept_in_the_form_and_bad_dates_are_explained(client, login, w, history):
    login(w.technicien)
    resp = client.get(f"/demandes?q=martin&status=transmise&caisse_id={w.caisse.id}&date_from=32/13/2026")
    assert resp.status_code == 200
    text = body(resp)
    assert 'value="martin"' in text and 'value="32/13/2026"' in text
    assert re.search(r'<option selected value="transmise">|<option value="transmise" selected', text)
    assert "Date invalide. Exemple : 01/03/2026" in text
    assert refs(resp) == [history.mine.reference]  # the unreadable date is ignored, the rest applies


def test_pagination_20_per_page_keeps_the_filters(client, login, w, clock):
    for i in range(25):
        _demande(w.technicien, w.caisse, f"Personne{alpha(i).rjust(2, 'A')}")
        clock.advance(minutes=5)
    _demande(w.technicien, w.caisse, "Autre", service="document")
    login(w.technicien)
    first = client.get("/demandes?service=contact")
    assert len(rows(first)) == 20
    assert "25 demandes correspondant aux filtres — page 1 sur 2" in body(first)
    assert 'href="/demandes?service=contact&amp;page=2"' in first.get_data(as_text=True)
    second = client.get("/demandes?service=contact&page=2")
    assert len(rows(second)) == 5
    assert set(refs(first)).isdisjoint(refs(second))
    assert "PersonneAA" in body(second) and "PersonneCE" in body(first)
    # Page 1 link drops the page parameter; a page past the end shows the last one.
    assert 'href="/demandes?service=contact"' in second.get_data(as_text=True)
    assert len(rows(client.get("/demandes?service=contact&page=9"))) == 5


def test_htmx_gets_the_results_fragment_and_the_browser_the_page(client, login, w, history):
    login(w.technicien)
    frag = client.get("/demandes?q=martin", headers=HTMX)
    assert frag.status_code == 200 and "HX-Request" in frag.headers["Vary"]
    text = body(frag)
    assert text.lstrip().startswith('<div id="history-results"') and "<html" not in text and "<form" not in text
    assert refs(frag) == [history.mine.reference]
    page = client.get("/demandes?q=martin")
    page_text = body(page)
    assert "<html" in page_text and '<div id="history-results" aria-live="polite">' in page_text
    # The page and the fragment are the same markup.
    assert text.strip() in page_text
    # A boosted request or a history restore gets the whole page.
    assert "<html" in body(client.get("/demandes", headers={**HTMX, "HX-History-Restore-Request": "true"}))


def test_the_form_is_a_real_get_form_enhanced_by_htmx(client, login, w):
    login(w.technicien)
    text = client.get("/demandes").get_data(as_text=True)
    form = re.search(r'<form method="get" action="/demandes"[^>]*>', text).group(0)
    assert 'hx-get="/demandes"' in form and 'hx-target="#history-results"' in form
    assert 'hx-push-url="true"' in form and "input changed delay:300ms" in form and "change" in form
    assert '<button class="fr-btn" type="submit">Filtrer</button>' in text


def test_empty_history(client, login, w):
    login(w.technicien)
    assert "Votre structure n'a encore fait aucune demande." in body(client.get("/demandes"))
