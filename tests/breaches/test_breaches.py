"""Suspected data breaches (SPEC §7, seed 004 annexe 3 §8): the report and its
rules, the e-mails to the DPO and the admin_caisse, the two clocks on the
injected clock, the follow-up and who sees what."""
import re
from datetime import date, timedelta

import pytest

from ep_web.domain import breaches
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.models import AccountStatus, AuditEvent, BreachReport, Demande
from ep_web.transaction import commit

DESCRIPTION = "Le portable du service a été volé dans la voiture, la session du portail était ouverte."


@pytest.fixture
def w(make):
    w = make.world()
    w.admin2 = make.admin_caisse(w.caisse)
    w.inactive_admin = make.admin_caisse(w.caisse, status=AccountStatus.INACTIVE)
    w.caisse.dpo_email = "dpo@valmont.example"
    db.session.commit()
    return w


def _demande(technicien, caisse, n):
    d = Demande(reference=f"EP-2026-{n:06d}", service="contact", caisse_id=caisse.id,
                partenaire_id=technicien.partenaire_id, author_id=technicien.id, civilite="M.", nom="Exemple",
                prenom="Camille", date_naissance=date(1980, 1, 1), departement="75", nom_search="exemple camille")
    db.session.add(d)
    db.session.commit()
    return d


def _report(actor, caisse, clock, ago=timedelta(hours=3), **kw):
    report = breaches.report_breach(actor, caisse_id=caisse.id, description=kw.pop("description", DESCRIPTION),
                                    noticed_at=clock.now() - ago, **kw)
    commit()
    return report


def _audit(action):
    return db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == action)).all()


# ---------------------------------------------------------------- the report


def test_a_technicien_reports_and_the_dpo_and_admin_caisse_are_told_at_once(w, clock, outbox):
    report = _report(w.technicien, w.caisse, clock, concerned="Les demandes consultées cette semaine.")
    assert re.fullmatch(r"VD-2026-\d{5}", report.reference)
    assert (report.partenaire_id, report.side, report.created_at) == (w.partenaire.id, "partenaire", clock.now())
    mails = outbox()
    assert [m.to for m in mails] == ["dpo@valmont.example", w.admin.email, w.admin2.email]
    for mail in mails:
        assert report.reference in mail.subject and f"http://ep.test/violations/{report.id}" in mail.body_text
        for text in (mail.body_text, mail.body_html):  # reference and link only
            assert "portable" not in text and "demandes consultées" not in text
            assert w.technicien.nom not in text and w.partenaire.name not in text
    [event] = _audit("breach_reported")
    assert (event.actor_id, event.caisse_id, event.partenaire_id) == (w.technicien.id, w.caisse.id, w.partenaire.id)


def test_without_a_dpo_mailbox_the_referent_mailbox_is_told(w, clock, outbox):
    w.caisse.dpo_email = ""
    w.admin2.email = w.caisse.referent_email.upper()  # one address, told once
    db.session.commit()
    _report(w.gestionnaire, w.caisse, clock)
    assert [m.to for m in outbox()] == [w.caisse.referent_email, w.admin.email]


@pytest.mark.parametrize(("kwargs", "field", "message"), [
    ({"description": "  "}, "description", "Décrivez ce qui s'est passé."),
    ({"ago": -timedelta(minutes=1)}, "noticed_date", "ne peuvent pas être dans le futur"),
    ({"description": "Dossier de 1 85 05 78 006 084 36 transmis par erreur."}, "description", "NIR"),
    ({"concerned": "la personne 2.85.05.78.006.084"}, "concerned", "NIR"),
    ({"demande_references": "EP-2026-999999"}, "demande_references", "ne correspond à aucune demande"),
    ({"demande_references": "dossier Martin"}, "demande_references", "n'est pas une référence"),
])
def test_refusals_name_their_field(w, clock, kwargs, field, message):
    with pytest.raises(DomainError) as exc:
        _report(w.technicien, w.caisse, clock, **kwargs)
    assert exc.value.field == field and message in exc.value.message


def test_demande_references_are_checked_against_what_the_reporter_sees(w, clock):
    own = _demande(w.technicien, w.caisse, 101)
    foreign = _demande(w.other_technicien, w.other_caisse, 102)
    report = _report(w.technicien, w.caisse, clock, demande_references=f" {own.reference.lower()}, {own.reference}")
    assert report.demande_references == [own.reference]
    with pytest.raises(DomainError, match=foreign.reference):
        _report(w.technicien, w.caisse, clock, demande_references=foreign.reference)
    # The caisse names its own demandes, not another caisse's.
    assert _report(w.agent, w.caisse, clock, demande_references=own.reference).demande_references == [own.reference]
    with pytest.raises(DomainError):
        _report(w.agent, w.caisse, clock, demande_references=foreign.reference)


def test_each_side_reports_to_its_own_caisses(w, clock):
    with pytest.raises(DomainError) as exc:
        _report(w.technicien, w.other_caisse, clock)
    assert exc.value.field == "caisse_id"
    with pytest.raises(DomainError):
        _report(w.admin, w.other_caisse, clock)
    assert [c.id for c in breaches.reportable_caisses(w.technicien)] == [w.caisse.id]
    assert {c.id for c in breaches.reportable_caisses(w.national)} == {w.caisse.id, w.other_caisse.id}
    assert _report(w.national, w.other_caisse, clock).side == "national"
    assert _report(w.admin, w.caisse, clock).partenaire_id is None


@pytest.mark.parametrize(("day", "hour", "field"), [
    ("31/02/2026", "10:00", "noticed_date"), ("hier", "10:00", "noticed_date"), ("", "10:00", "noticed_date"),
    ("02/03/2026", "25:00", "noticed_time"), ("02/03/2026", "", "noticed_time"),
    ("02/03/2026", "10:61", "noticed_time"),
])
def test_the_moment_noticed_is_parsed_or_refused_on_its_field(day, hour, field):
    with pytest.raises(DomainError) as exc:
        breaches.parse_noticed(day, hour)
    assert exc.value.field == field


def test_the_moment_noticed_is_paris_time():
    assert breaches.parse_noticed("02/03/2026", "10:30").isoformat() == "2026-03-02T09:30:00+00:00"
    assert breaches.parse_noticed("2026-07-01", "14h05").isoformat() == "2026-07-01T12:05:00+00:00"


# ---------------------------------------------------------------- clocks


def _states(report, at=None):
    return [(c.state, c.text) for c in breaches.clocks(report, at)]


def test_clocks_partner_24h_and_caisse_72h_read_on_the_injected_clock(w, clock):
    report = _report(w.technicien, w.caisse, clock, ago=timedelta(hours=3, minutes=20))
    partner, caisse = _states(report)
    assert partner == ("respecte", "Signalé 3 h 20 min après le constat : dans le délai de 24 h.")
    assert caisse == ("en_cours", "Il reste 3 j.")
    clock.advance(hours=71, minutes=15)
    assert _states(report)[1] == ("en_cours", "Il reste 45 min.")
    clock.advance(hours=2)
    assert _states(report)[1] == ("depasse", "Délai dépassé de 1 h 15 min.")
    breaches.qualify(w.admin, report, "qualifiee")
    breaches.decide_cnil(w.admin, report, "non", "Données chiffrées, risque improbable.")
    commit()
    clock.advance(days=5)  # the clock stopped at the decision
    state, text = _states(report)[1]
    assert state == "hors_delai" and text.endswith(": 1 h 15 min après le délai.")


def test_a_late_partner_report_and_a_caisse_report(w, clock):
    late = _report(w.technicien, w.caisse, clock, ago=timedelta(hours=30))
    assert _states(late)[0] == ("hors_delai", "Signalé 1 j 6 h après le constat : 6 h après le délai de 24 h.")
    # The caisse knew from the moment noticed: its 72 h run from then.
    own = _report(w.agent, w.caisse, clock, ago=timedelta(hours=70))
    assert _states(own)[0][0] == "sans_objet"
    assert _states(own)[1] == ("en_cours", "Il reste 2 h.")


# ---------------------------------------------------------------- follow-up


def test_follow_up_in_order_by_the_caisse_referent_each_step_audited(w, clock):
    report = _report(w.technicien, w.caisse, clock)
    for actor in (w.technicien, w.agent, w.other_admin, w.national):
        with pytest.raises(NotAllowed):
            breaches.qualify(actor, report, "qualifiee")
    with pytest.raises(DomainError, match="Qualifiez d'abord"):
        breaches.decide_cnil(w.admin, report, "oui", "Notifiée le 03/03.")
    with pytest.raises(DomainError) as exc:
        breaches.qualify(w.admin, report, "peut-etre")
    assert exc.value.field == "qualification"
    breaches.qualify(w.admin, report, "qualifiee", "Accès possible aux demandes du poste.")
    with pytest.raises(DomainError, match="ne peut être clos"):
        breaches.close(w.admin, report)
    with pytest.raises(DomainError) as exc:
        breaches.decide_cnil(w.admin, report, "non", "  ")
    assert exc.value.field == "reason"
    breaches.decide_cnil(w.admin2, report, "oui", "Notification CNIL n° 2026-123 du 03/03/2026.")
    with pytest.raises(DomainError):
        breaches.qualify(w.admin, report, "non_qualifiee")  # decided: the qualification stays
    breaches.close(w.admin, report)
    commit()
    assert report.is_closed and report.cnil_notified is True and report.status_label == "close"
    with pytest.raises(DomainError, match="clos"):
        breaches.close(w.admin, report)
    assert [len(_audit(a)) for a in ("breach_qualified", "breach_cnil_decided", "breach_closed")] == [1, 1, 1]


def test_not_a_breach_is_closed_without_a_cnil_decision(w, clock):
    report = _report(w.technicien, w.caisse, clock)
    breaches.qualify(w.admin, report, "non_qualifiee", "Le document a été récupéré sans être ouvert.")
    with pytest.raises(DomainError):
        breaches.decide_cnil(w.admin, report, "non", "Sans objet.")
    breaches.close(w.admin, report)
    commit()
    assert breaches.clocks(report)[1].state == "respecte"


def test_who_sees_which_reports(w, clock, make):
    mine = _report(w.technicien, w.caisse, clock)
    caisse_side = _report(w.agent, w.caisse, clock)
    other = _report(w.other_technicien, w.other_caisse, clock)
    assert [r.id for r in breaches.visible_reports(w.gestionnaire)] == [mine.id]  # the structure's, a colleague's
    assert {r.id for r in breaches.visible_reports(w.admin)} == {mine.id, caisse_side.id}
    assert {r.id for r in breaches.visible_reports(w.agent)} == {mine.id, caisse_side.id}
    assert {r.id for r in breaches.visible_reports(w.national)} == {mine.id, caisse_side.id, other.id}
    assert [r.id for r in breaches.visible_reports(w.other_admin)] == [other.id]
    assert db.session.scalar(db.select(db.func.count(BreachReport.id))) == 3
