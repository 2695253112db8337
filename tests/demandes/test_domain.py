"""Demande rules on the domain layer (SPEC §4, §3 end of convention, §8)."""
import re
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ep_web.domain import demandes as dm
from ep_web.domain.conventions import terminate
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.models import DemandeStatus, Outcome, Service
from ep_web.permissions import can_view_demande
from ep_web.transaction import commit, rollback
from tests.demandes.test_textguard import nirs, spellings
from tests.factories import alpha


def _input(caisse, service="contact", **over):
    details = {
        "contact": {"subject": "Carte Vitale", "message": "La personne n'a plus de carte."},
        "etude_dossier": {"kind": "css", "message": "Étude des droits à la CSS."},
        "suivi_ame": {"filed_on": date(2026, 1, 15), "message": "Dossier déposé en janvier."},
        "signalement": {"difficulty_kinds": ["droits"], "message": "Droits fermés depuis un mois."},
        "rendez_vous": {"reason": "Ouverture de droits", "slots": "Mardi matin", "channel": "guichet",
                        "message": ""},
        "document": {"document_kind": "attestation_droits", "message": ""},
    }[service]
    data = dict(service=service, caisse_id=caisse.id, civilite="Mme", nom="Martin", prenom="Léa",
                date_naissance=date(1980, 5, 17), departement=caisse.departement_list[0], details=dict(details),
                consent=service == "signalement")
    data.update(over)
    return dm.DemandeInput(**data)


@pytest.mark.parametrize("service", [s.value for s in Service])
def test_each_service_creates_a_demande_with_a_reference(app, make, service):
    w = make.world()
    d = dm.create_demande(w.technicien, _input(w.caisse, service))
    commit()
    assert re.fullmatch(r"EP-2026-\d{6}", d.reference)
    assert d.status == DemandeStatus.TRANSMISE and d.events[0].kind == "created"
    assert (d.due_at is not None) == (service == "signalement")


def test_references_are_sequential(app, make):
    w = make.world()
    refs = [dm.create_demande(w.technicien, _input(w.caisse, nom=f"N{alpha(i)}")).reference for i in range(3)]
    assert [int(r[-6:]) for r in refs] == [1, 2, 3]


def test_service_must_be_enabled_and_caisse_in_convention(app, make):
    caisse = make.caisse()
    p = make.partenaire(caisse, services=[Service.CONTACT])
    tech = make.technicien(p)
    with pytest.raises(DomainError, match="pas ouvert") as exc:
        dm.create_demande(tech, _input(caisse, "signalement"))
    assert exc.value.field == "service"
    other = make.caisse()
    with pytest.raises(DomainError, match="pas de convention"):
        dm.create_demande(tech, _input(other))


def test_only_techniciens_make_demandes(app, make):
    w = make.world()
    for actor in (w.gestionnaire, w.agent, w.admin):
        with pytest.raises(NotAllowed):
            dm.create_demande(actor, _input(w.caisse))


def test_signalement_needs_consent_and_an_urgency_reason(app, make):
    w = make.world()
    with pytest.raises(DomainError, match="accepté d'être contactée") as exc:
        dm.create_demande(w.technicien, _input(w.caisse, "signalement", consent=False))
    assert exc.value.field == "consent"
    with pytest.raises(DomainError, match="urgente") as exc:
        dm.create_demande(w.technicien, _input(w.caisse, "signalement", urgent=True))
    inp = _input(w.caisse, "signalement", urgent=True)
    inp.details["urgency_reason"] = "soins_imminents"
    d = dm.create_demande(w.technicien, inp)
    assert d.urgent and d.urgency_reason == "soins_imminents"


def test_duplicate_must_be_confirmed(app, make):
    w = make.world()
    first = dm.create_demande(w.technicien, _input(w.caisse))
    commit()
    with pytest.raises(DomainError, match=first.reference) as exc:
        dm.create_demande(w.technicien, _input(w.caisse, nom="MARTIN", prenom="lea"))
    assert exc.value.field == "duplicate_confirmed"
    dm.create_demande(w.technicien, _input(w.caisse, duplicate_confirmed=True))
    # another service, or once closed: no warning
    dm.create_demande(w.technicien, _input(w.caisse, "document"))


def test_duplicates_never_reveal_another_structures_demandes(app, make):
    w = make.world()
    other = make.partenaire(w.caisse)
    other_tech = make.technicien(other)
    theirs = dm.create_demande(other_tech, _input(w.caisse))
    commit()
    mine = dm.create_demande(w.technicien, _input(w.caisse))  # no warning, nothing revealed
    assert mine.reference != theirs.reference


def test_health_terms_need_confirmation(app, make):
    w = make.world()
    inp = _input(w.caisse)
    inp.details["message"] = "Suivi en chimiothérapie, droits coupés."
    with pytest.raises(DomainError, match="chimiothérapie") as exc:
        dm.create_demande(w.technicien, inp)
    assert exc.value.field == "health_confirmed"
    inp.health_confirmed = True
    assert dm.create_demande(w.technicien, inp).health_confirmed


# Every text a partner types, per service (identity + free texts).
PARTNER_FIELDS = [("contact", f) for f in ("nom", "prenom", "subject", "message")] + [
    ("etude_dossier", "message"), ("suivi_ame", "message"), ("signalement", "message"),
    ("signalement", "urgency_detail"), ("rendez_vous", "reason"), ("rendez_vous", "slots"),
    ("rendez_vous", "message"), ("document", "document_other"), ("document", "message")]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nir=nirs(), which=st.integers(0, 7))
def test_every_partner_typed_field_refuses_a_nir(app, make, nir, which):
    if not hasattr(make, "_w"):
        make._w = make.world()
    w = make._w
    spelling = spellings(*nir)[which]
    for service, fname in PARTNER_FIELDS:
        inp = _input(w.caisse, service)
        if service == "signalement" and fname == "urgency_detail":
            inp.urgent = True
            inp.details["urgency_reason"] = "droits_bloques"
        if service == "document" and fname == "document_other":
            inp.details["document_kind"] = "autre"
        text = f"voir {spelling} merci"
        if fname in ("nom", "prenom"):
            setattr(inp, fname, text)
        else:
            inp.details[fname] = text
        with pytest.raises(DomainError) as exc:
            dm.create_demande(w.technicien, inp)
        rollback()
        assert exc.value.field == fname, (service, fname, exc.value.message)
        assert "document joint" in exc.value.message


def test_lifecycle_and_emails_carry_no_identity(app, make, outbox):
    w = make.world()
    d = dm.create_demande(w.technicien, _input(w.caisse, "signalement"))
    commit()
    with pytest.raises(NotAllowed):
        dm.take(w.technicien, d)
    dm.take(w.agent, d)
    dm.request_complement(w.agent, d, "Merci de joindre un justificatif de domicile.")
    assert d.status == DemandeStatus.ATTENTE_COMPLEMENT
    dm.partner_reply(w.technicien, d, "Le justificatif arrive par courrier.")
    assert d.status == DemandeStatus.PRISE_EN_CHARGE
    dm.caisse_reply(w.agent, d, "Bien reçu, nous rappelons la personne.")
    with pytest.raises(DomainError, match="Choisissez l'issue"):
        dm.close(w.agent, d, "bogus")
    contact = dm.create_demande(w.technicien, _input(w.caisse, "contact", nom="Autre"))
    with pytest.raises(DomainError, match="ne s'applique pas"):
        dm.close(w.agent, contact, Outcome.PARCOURS_CREE.value)
    dm.close(w.agent, d, Outcome.PARCOURS_CREE.value)
    commit()
    assert d.status == DemandeStatus.CLOTUREE and d.closed_at is not None
    with pytest.raises(DomainError, match="clôturée"):
        dm.caisse_reply(w.agent, d, "encore")
    mails = outbox(w.technicien.email)
    assert len(mails) == 4  # taken, complement, reply, closed (the contact demande was not touched)
    for mail in mails:
        blob = mail.subject + mail.body_text + mail.body_html
        assert d.reference in blob
        for secret in ("Martin", "Léa", "1980", "17/05", "05/1980"):
            assert secret not in blob, secret


def test_caisse_texts_pass_the_guards_too(app, make):
    w = make.world()
    d = dm.create_demande(w.technicien, _input(w.caisse))
    with pytest.raises(DomainError, match="NIR"):
        dm.caisse_reply(w.agent, d, "Son numéro est le 2 85 03 75 123 456 12")
    with pytest.raises(DomainError, match="santé"):
        dm.caisse_reply(w.agent, d, "Il est sous insuline.")


def test_ended_convention_hides_demandes_and_blocks_new_ones(app, make):
    w = make.world()
    make.convention(w.partenaire, w.other_caisse)
    d = dm.create_demande(w.technicien, _input(w.caisse))
    commit()
    assert can_view_demande(w.technicien, d)
    terminate(w.admin, [c for c in w.partenaire.conventions if c.caisse_id == w.caisse.id][0])
    commit()
    assert not can_view_demande(w.technicien, d)
    rows, total, _ = dm.paginate(dm.history_query(w.technicien, dm.Filters()), 1)
    assert total == 0
    with pytest.raises(DomainError, match="pas de convention"):
        dm.create_demande(w.technicien, _input(w.caisse))
    assert can_view_demande(w.agent, d)  # the caisse keeps its file


def test_queue_order_urgent_then_sla_then_age(app, make, clock):
    w = make.world()
    plain = dm.create_demande(w.technicien, _input(w.caisse, "contact", nom="A"))
    clock.advance(hours=1)
    late = dm.create_demande(w.technicien, _input(w.caisse, "signalement", nom="B"))
    clock.advance(hours=1)
    inp = _input(w.caisse, "signalement", nom="C", urgent=True)
    inp.details["urgency_reason"] = "soins_imminents"
    urgent = dm.create_demande(w.technicien, inp)
    clock.advance(hours=1)
    fresh = dm.create_demande(w.technicien, _input(w.caisse, "signalement", nom="D"))
    commit()
    clock.advance(hours=47, minutes=30)
    rows, total, _ = dm.paginate(dm.queue_query(w.agent, dm.Filters()), 1)
    assert [r.id for r in rows] == [urgent.id, late.id, fresh.id, plain.id]
    assert late.sla_state == "overdue" and fresh.sla_state == "soon"
    rows, _, _ = dm.paginate(dm.queue_query(w.other_admin, dm.Filters()), 1)
    assert rows == []


def test_history_shows_the_whole_structure_with_filters(app, make, clock):
    w = make.world()
    colleague = make.technicien(w.partenaire)
    dm.create_demande(w.technicien, _input(w.caisse, nom="Dupont"))
    dm.create_demande(colleague, _input(w.caisse, "document", nom="Durand"))
    dm.create_demande(w.other_technicien, _input(w.other_caisse, nom="Dupont"))
    commit()
    q = lambda **f: dm.paginate(dm.history_query(w.technicien, dm.Filters(**f)), 1)[1]  # noqa: E731
    assert q() == 2
    assert q(q="dupont") == 1 and q(q="DURAND léa") == 1
    # 1-2 characters: the start of a word of the name
    assert q(q="du") == 2 and q(q="Ré") == 0 and q(q="l") == 2 and q(q="ea") == 0
    assert q(service="document") == 1
    assert q(author_id=colleague.id) == 1
    assert q(date_from=clock.now().date() + timedelta(days=1)) == 0


NAMES = [("Martin", "Léa"), ("Dubois-Martin", "Jean"), ("Le Duc", "Anne"), ("Mendu", "Paul"), ("O'Brien", "Zoë"),
         ("Çağlar", "Ørjan"), ("Nguyễn", "Văn"), ("Martinez", "Tin"), ("Tin", "Mar"), ("Ab", "Cent"),
         ("De La Fontaine", "Eve"), ("Delafont", "Léa"), ("Dela", "Bé")]
TERMS = ["martin", "MARTIN léa", "mar", "tin mar", "du", "d", "ea", "Lé", "o b", "brien", "ørj", "rjan", "ar ø",
         "n v", "nguyen", "dubois mar", "in ma", "z", "%", "_", "a_b", "100%", "  ", "xyz", "ti", "2", "tin",
         "de la", "e la f", "De La", "la font", "a b", "b c", "ab c", "in l", "e l", "n e"]


@pytest.mark.parametrize("probe", [dm.SEARCH_PROBE, 1])
def test_name_search_finds_exactly_the_names_holding_the_text(app, make, monkeypatch, probe):
    """Whatever path the database takes (PostgreSQL: the list's index read in
    order, or the scoped trigrams — a probe of 1 entry sends every count and
    page there; SQLite: LIKE), the history and the queue find the names
    holding the typed text (1–2 characters: a word's start), in their own
    scope only, counted right."""
    monkeypatch.setattr(dm, "SEARCH_PROBE", probe)
    w = make.world()
    folded = {}
    for nom, prenom in NAMES:
        d = dm.create_demande(w.technicien, _input(w.caisse, nom=nom, prenom=prenom))
        folded[d.id] = dm.fold_name(nom, prenom)
        # The same names in another structure (same caisse for some): never in this structure's history.
        dm.create_demande(w.other_technicien, _input(w.other_caisse, nom=nom, prenom=prenom))
    commit()
    for term in TERMS:
        t = dm.fold_name(term)
        expected = {i for i, name in folded.items()
                    if (t in name if len(t) >= 3 else name.startswith(t) or f" {t}" in name)}
        for path in ("walk", "index", "open"):
            f = dm.Filters(q=term, search_path=path)
            if path != "open":  # the open queue's own index
                history = {r.id for r in dm.paginate(dm.history_query(w.technicien, f), 1)[0]}
                assert history == expected, (term, path)
            queue = {r.id for r in dm.paginate(dm.queue_query(w.agent, f), 1)[0]}
            assert queue == expected, (term, path)
            transmises = {r.id for r in dm.paginate(dm.queue_query(w.agent, replace(f, status="transmise")), 1)[0]}
            assert transmises == expected, (term, path)
        rows, total, _, _ = dm.history_page(w.technicien, dm.Filters(q=term), 1)
        assert {r.id for r in rows} == expected and total == len(expected), term
        probes: dict = {}
        counts = dm.queue_counts(w.agent, dm.Filters(q=term), probes)
        assert counts[DemandeStatus.TRANSMISE] == len(expected), term
        assert counts[DemandeStatus.PRISE_EN_CHARGE] == counts[DemandeStatus.CLOTUREE] == 0, term
        for status in ("", "transmise"):
            counts, rows, total, _, _ = dm.queue_page(w.agent, dm.Filters(q=term, status=status), 1)
            assert {r.id for r in rows} == expected and total == len(expected), (term, status)


@pytest.mark.parametrize("probe", [dm.SEARCH_PROBE, 1])
def test_name_search_pages_are_the_same_whatever_the_path(app, make, clock, monkeypatch, probe):
    """The history's pages of a name search, newest first, and the last page
    for a page past the end — read in order, or (a probe of 1 entry) the count
    and the page's rows taken from the trigram index in one statement."""
    monkeypatch.setattr(dm, "SEARCH_PROBE", probe)
    w = make.world()
    made = []
    for i in range(25):
        clock.advance(minutes=1)
        made.append(dm.create_demande(w.technicien, _input(w.caisse, nom=f"Dupont{'xyz'[i % 3]}",
                                                           prenom="Léa", duplicate_confirmed=True)).id)
        dm.create_demande(w.technicien, _input(w.caisse, nom="Martin", prenom="Léa", duplicate_confirmed=True))
    commit()
    newest = made[::-1]
    rows, total, pages, page = dm.history_page(w.technicien, dm.Filters(q="dupont"), 1, per_page=10)
    assert [r.id for r in rows] == newest[:10] and (total, pages, page) == (25, 3, 1)
    rows, total, pages, page = dm.history_page(w.technicien, dm.Filters(q="dupont"), 3, per_page=10)
    assert [r.id for r in rows] == newest[20:] and (total, pages, page) == (25, 3, 3)
    rows, total, pages, page = dm.history_page(w.technicien, dm.Filters(q="dupont"), 9, per_page=10)
    assert [r.id for r in rows] == newest[20:] and (total, pages, page) == (25, 3, 3)
    rows, total, pages, page = dm.history_page(w.technicien, dm.Filters(q="dupontz"), 1, per_page=10)
    assert [r.id for r in rows] == newest[1::3][:10] == [i for i in newest if i in made[2::3]][:10] and total == 8
    rows, total, pages, page = dm.history_page(w.technicien, dm.Filters(q="nobody"), 2)
    assert rows == [] and (total, pages, page) == (0, 1, 1)


@pytest.mark.postgres_only
def test_a_rare_name_takes_its_page_from_the_matches_its_count_read(app, make, clock, monkeypatch):
    """A name the probe finds rare is counted through the trigram index; the
    page's rows come from the same matches, in the same statement — never
    from a walk of the structure's demandes until 20 of them match (at 5 M
    demandes: 51 ms instead of 3)."""
    from tests.perf.test_query_counts import statements

    monkeypatch.setattr(dm, "SEARCH_PROBE", 1)
    w = make.world()
    made = []
    for nom in ("Vizorel", "Vizorel", "Martin", "Vizorel", "Durand"):  # the newest is no match: a rare name
        clock.advance(minutes=1)
        made.append((nom, dm.create_demande(w.technicien, _input(w.caisse, nom=nom, duplicate_confirmed=True)).id))
    commit()
    with statements() as seen:
        rows, total, pages, page = dm.history_page(w.technicien, dm.Filters(q="vizorel"), 1)
    assert [r.id for r in rows] == [i for nom, i in reversed(made) if nom == "Vizorel"] and total == 3
    reads = [statement for statement in seen if "FROM demande" in statement]
    assert len(reads) == 2 and "matches" in reads[1], reads  # the probe, then the matches (count and rows)
    # More matches than COUNT_CAP: the matches read are not all of them; the count stands, the rows are read again.
    monkeypatch.setattr(dm, "COUNT_CAP", 2)
    with statements() as seen:
        rows, total, pages, page = dm.history_page(w.technicien, dm.Filters(q="vizorel"), 1, per_page=2)
    assert [r.id for r in rows] == [i for nom, i in reversed(made) if nom == "Vizorel"][:2]
    assert (total, pages, page) == (3, 1, 1) and len([s for s in seen if "FROM demande" in s]) == 3


@pytest.mark.postgres_only
def test_a_name_search_within_an_open_status_reads_that_status_in_order(app, make, clock, monkeypatch):
    """The history filtered on an open status, with a name the probe finds
    rare: the demandes of that status are read in order (their own index,
    ix_demande_partenaire_open), never through the trigram index, which the
    planner combined with a partial index holding every open demande of the
    country (13–26 ms at 5 M demandes instead of 1–2). Same rows, same count."""
    from tests.perf.test_query_counts import statements

    monkeypatch.setattr(dm, "SEARCH_PROBE", 1)
    w = make.world()
    made = []
    for nom in ("Vizorel", "Vizorel", "Martin", "Vizorel", "Durand"):  # the newest is no match: a rare name
        clock.advance(minutes=1)
        made.append((nom, dm.create_demande(w.technicien, _input(w.caisse, nom=nom, duplicate_confirmed=True))))
    dm.take(w.agent, made[0][1])  # prise en charge: not among the transmises
    commit()
    expected = [d.id for nom, d in reversed(made[1:]) if nom == "Vizorel"]
    with statements() as seen:
        rows, total, pages, page = dm.history_page(w.technicien, dm.Filters(q="vizorel", status="transmise"), 1)
    assert [r.id for r in rows] == expected and (total, pages, page) == (2, 1, 1)
    reads = [statement for statement in seen if "FROM demande" in statement]
    assert len(reads) == 2 and not any("ep_scoped_trgm" in s for s in reads), reads  # the probe, then the page
    # Without a status, or with the closed one, a rare name is still read through the trigram index.
    with statements() as seen:
        rows, total, _, _ = dm.history_page(w.technicien, dm.Filters(q="vizorel"), 1)
    assert total == 3 and any("ep_scoped_trgm" in s for s in seen)


def test_search_trigrams_are_those_pg_trgm_gives_every_matching_name():
    assert dm.search_trigrams("dub") == ["dub"]
    assert dm.search_trigrams("martin") == ["mar", "art", "rti", "tin"]
    # A space inside the term: the run before it ends a word, the run after it starts one.
    assert dm.search_trigrams("moreau hu") == ["mor", "ore", "rea", "eau", "au ", "  h", " hu"]
    assert dm.search_trigrams("de la") == ["de ", "  l", " la"] and dm.search_trigrams("e la f") == [
        "  l", " la", "la ", "  f"]
    assert dm.search_trigrams("du") == ["  d", " du"] and dm.search_trigrams("d") == ["  d"]
    assert dm.search_trigrams("ørjan") == ["rja", "jan"] and dm.search_trigrams("a_b") == []
    assert dm.search_trigrams("o b") == [] and dm.search_trigrams("o bo") == ["  b", " bo"]
    assert dm.search_trigrams("%") == []


def test_an_open_status_is_counted_in_order_only_where_the_name_is_common_enough():
    """Without other filters, reading an open status in order beats its
    trigram index from 1 / OPEN_HEAP_COST of matching entries (both stop at
    COUNT_CAP + 1 matches); with a filter the trigram index does not hold,
    it would read the name's matches of the whole status: in order from
    SEARCH_DENSE."""
    assert dm._open_count_path(1300, 107, narrowed=False) == "open"  # "a" at 5 M: 8 % of the entries
    assert dm._open_count_path(1300, 436, narrowed=False) == "walk"  # "l'": a third
    assert dm._open_count_path(1300, 107, narrowed=True) == "walk"
    assert dm._open_count_path(1300, 13, narrowed=True) == "open"  # 1 %
    assert dm._open_count_path(0, 0, narrowed=False) == "open"  # the probe never reached it
    assert not dm._queue_narrowed(dm.Filters(q="a", status="cloturee"))
    assert all(dm._queue_narrowed(dm.Filters(q="a", **f)) for f in (
        {"service": "contact"}, {"urgent_only": True}, {"mine": True}, {"tab": "en-retard"},
        {"date_from": date(2026, 1, 1)}, {"date_to": date(2026, 1, 1)}))


@pytest.mark.parametrize("probe", [dm.SEARCH_PROBE, 1])
def test_the_cockpit_tabs_keep_their_demandes_under_a_name_search(app, make, clock, monkeypatch, probe):
    """Each tab of the agent's cockpit (and the whole queue), with or without
    a name search, shows the rows and the count of the queue read in order
    (queue_query), and counts no closed demande in a tab (the probe reads none
    there)."""
    from ep_web.domain.home import AGENT_TABS

    monkeypatch.setattr(dm, "SEARCH_PROBE", probe)
    w = make.world()
    made = {}
    for key, nom in (("late", "Martin"), ("late_other", "Durand"), ("closed", "Martin")):
        made[key] = dm.create_demande(w.technicien, _input(w.caisse, "signalement", nom=nom, duplicate_confirmed=True))
    commit()
    clock.advance(hours=49)
    made["fresh"] = dm.create_demande(w.technicien, _input(w.caisse, "signalement", nom="Martin",
                                                           duplicate_confirmed=True))
    dm.take(w.agent, made["closed"])
    dm.close(w.agent, made["closed"], dm.outcomes_for(made["closed"])[0].value)
    commit()
    for tab in ["", *AGENT_TABS]:
        for q in ("", "martin", "ma", "zzz"):
            f = dm.Filters(tab=tab, q=q)
            expected = [r.id for r in dm.paginate(dm.queue_query(w.agent, replace(f, search_path="walk")), 1)[0]]
            counts, rows, total, _, _ = dm.queue_page(w.agent, f, 1)
            assert [r.id for r in rows] == expected and total == len(expected), (tab, q)
            assert counts[DemandeStatus.CLOTUREE] == (tab == "" and q in ("", "martin", "ma")), (tab, q)
    late = [r.id for r in dm.queue_page(w.agent, dm.Filters(tab="en-retard", q="martin"), 1)[1]]
    assert late == [made["late"].id]
