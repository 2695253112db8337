"""SPEC §3 [2.2.3]: a structure never ends up with no active gestionnaire — when
a departure is filed, accepted, scheduled, and when it is applied (nightly job
or at once)."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from ep_web.domain import lifecycle
from ep_web.domain.accounts import schedule_gestionnaire_inactivation
from ep_web.domain.errors import DomainError
from ep_web.domain.requests import accept_request, file_request
from ep_web.extensions import db
from ep_web.models import AccountStatus, AuditEvent, GestionnaireRequest, Profile, RequestKind
from ep_web.transaction import commit
from tests.caisse.helpers import text


def _count_active(partenaire_id: int) -> int:
    from ep_web.models import Account

    return len(db.session.scalars(select(Account.id).where(
        Account.partenaire_id == partenaire_id, Account.profile == Profile.GESTIONNAIRE,
        Account.status == AccountStatus.ACTIVE)).all())


@pytest.fixture
def solo(make):
    """A structure with one active gestionnaire, and its caisse's référent."""
    caisse = make.caisse()
    p = make.partenaire(caisse)
    return type("Solo", (), {"caisse": caisse, "partenaire": p, "admin": make.admin_caisse(caisse),
                             "g1": make.gestionnaire(p)})()


def test_filing_a_departure_is_allowed_once_a_replacement_is_created_not_yet_activated(app, make, clock, solo):
    later = clock.now().date() + timedelta(days=20)
    with pytest.raises(DomainError, match="seul qui reste"):
        file_request(solo.g1, solo.caisse, RequestKind.INACTIVATION, target_id=solo.g1.id, wished_date=later)
    make.gestionnaire(solo.partenaire, status=AccountStatus.PENDING)  # created, activation link not used yet
    req = file_request(solo.g1, solo.caisse, RequestKind.INACTIVATION, target_id=solo.g1.id, wished_date=later)
    assert req.status.value == "pending"


def test_two_departures_cannot_both_be_filed_when_nobody_would_stay(app, clock, make):
    w = make.world()
    later = clock.now().date() + timedelta(days=20)
    file_request(w.gestionnaire, w.caisse, RequestKind.INACTIVATION, target_id=w.gestionnaire.id, wished_date=later)
    with pytest.raises(DomainError, match="seul qui reste") as exc:
        file_request(w.gestionnaire2, w.caisse, RequestKind.INACTIVATION, target_id=w.gestionnaire2.id,
                     wished_date=later)
    assert exc.value.field == "target_id"


def test_two_departures_the_same_date_leave_one_active_gestionnaire(app, make, clock, outbox):
    """Both scheduled (e.g. accepted before this rule held): the night applies one, the other waits."""
    w = make.world()
    on = clock.now().date() + timedelta(days=1)
    for g in (w.gestionnaire, w.gestionnaire2):
        g.scheduled_inactivation_on = on
    commit()
    clock.advance(days=1)
    assert lifecycle.apply_gestionnaire_inactivations() == {"inactivated": 1, "techniciens_reattached": 1,
                                                            "waiting": 1}
    commit()
    db.session.expire_all()
    assert _count_active(w.partenaire.id) == 1
    waiting = w.gestionnaire2  # the latest created of the two stays until a replacement is active
    assert w.gestionnaire.status == AccountStatus.INACTIVE and waiting.status == AccountStatus.ACTIVE
    assert waiting.scheduled_inactivation_on == on and waiting.departure_waiting_since == clock.now().date()
    assert w.technicien.manager_id == waiting.id
    # The caisse and the partner are told why, once, without any name.
    told = {m.to: m for m in outbox() if m.template == "departure_waiting"}
    assert set(told) == {w.caisse.referent_email, waiting.email}
    for m in told.values():
        assert "aucun autre gestionnaire de la structure n'est actif" in m.body_text
        assert w.partenaire.name in m.body_text
        assert waiting.nom not in m.body_text and w.gestionnaire.nom not in m.body_text
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "account_inactivation_waiting"))

    # Retried each night: still no one else active, still waiting, nobody told twice.
    clock.advance(days=1)
    assert lifecycle.apply_gestionnaire_inactivations()["waiting"] == 1
    commit()
    assert len([m for m in outbox() if m.template == "departure_waiting"]) == 2

    # A replacement created: not active yet, the departure still waits; once it activates, it applies.
    replacement = make.gestionnaire(w.partenaire, status=AccountStatus.PENDING)
    clock.advance(days=1)
    assert lifecycle.apply_gestionnaire_inactivations()["inactivated"] == 0
    commit()
    replacement.status = AccountStatus.ACTIVE
    commit()
    clock.advance(days=1)
    assert lifecycle.apply_gestionnaire_inactivations() == {"inactivated": 1, "techniciens_reattached": 1,
                                                            "waiting": 0}
    commit()
    db.session.expire_all()
    assert waiting.status == AccountStatus.INACTIVE and waiting.departure_waiting_since is None
    assert w.technicien.manager_id == replacement.id and _count_active(w.partenaire.id) == 1


def test_a_departure_with_another_active_gestionnaire_staying_applies(app, make, clock):
    w = make.world()
    third = make.gestionnaire(w.partenaire)
    on = clock.now().date() + timedelta(days=1)
    for g in (w.gestionnaire, w.gestionnaire2):
        g.scheduled_inactivation_on = on
    commit()
    clock.advance(days=1)
    assert lifecycle.apply_gestionnaire_inactivations()["inactivated"] == 2
    commit()
    db.session.expire_all()
    assert third.status == AccountStatus.ACTIVE and _count_active(w.partenaire.id) == 1


def test_accepting_a_departure_due_today_waits_while_the_replacement_is_not_active(app, client, make, clock, login,
                                                                                  outbox, solo):
    """The interactive path: the caisse accepts on the date; the replacement has not activated its account."""
    make.gestionnaire(solo.partenaire, status=AccountStatus.PENDING)
    req = file_request(solo.g1, solo.caisse, RequestKind.INACTIVATION, target_id=solo.g1.id,
                       wished_date=clock.now().date() + timedelta(days=15))
    commit()
    clock.advance(days=16)  # the caisse acts late: the wished date has passed
    login(solo.admin)
    resp = client.post(f"/caisse/demandes/{req.id}/accepter", follow_redirects=True)
    assert resp.status_code == 200
    page = text(resp)
    assert "en attente : aucun autre gestionnaire de la structure n'est actif" in page
    db.session.expire_all()
    assert solo.g1.status == AccountStatus.ACTIVE and solo.g1.departure_waiting_since == clock.now().date()
    assert _count_active(solo.partenaire.id) == 1
    # Visible on the request, for the caisse and for the partner.
    assert "Inactivation en attente depuis le" in text(client.get(f"/caisse/demandes/{req.id}"))
    partner = login(solo.g1, c=app.test_client())
    assert 'data-testid="departure-waiting"' in partner.get("/gestion/demandes").get_data(as_text=True)
    assert {m.to for m in outbox() if m.template == "departure_waiting"} == {solo.caisse.referent_email,
                                                                             solo.g1.email}
    assert db.session.get(GestionnaireRequest, req.id).departure_waiting


def test_scheduling_today_with_an_active_replacement_applies_at_once(app, make, clock, solo):
    make.gestionnaire(solo.partenaire)
    assert schedule_gestionnaire_inactivation(solo.admin, solo.g1, clock.now().date()) == "applied"
    assert solo.g1.status == AccountStatus.INACTIVE


def test_accepting_two_requests_for_the_same_date_keeps_one_gestionnaire(app, make, clock):
    """Both filed while a third gestionnaire stayed; the third left since: the second acceptance waits."""
    w = make.world()
    third = make.gestionnaire(w.partenaire)
    later = clock.now().date() + timedelta(days=20)
    r1 = file_request(w.gestionnaire, w.caisse, RequestKind.INACTIVATION, target_id=w.gestionnaire.id,
                      wished_date=later)
    r2 = file_request(w.gestionnaire2, w.caisse, RequestKind.INACTIVATION, target_id=w.gestionnaire2.id,
                      wished_date=later)
    third.status = AccountStatus.INACTIVE
    commit()
    accept_request(w.admin, r1)
    with pytest.raises(DomainError, match="seul gestionnaire de la structure qui reste"):
        accept_request(w.admin, r2)
