"""SPEC §3 lifecycle rules tested on the domain layer directly."""
from datetime import date, datetime, timedelta, timezone

import pytest

from ep_web.domain.access import caisse_in_force
from ep_web.domain.accounts import (
    create_gestionnaire,
    inactivate,
    modify_gestionnaire,
    report_misuse,
    schedule_gestionnaire_inactivation,
)
from ep_web.domain.calendar import add_working_days
from ep_web.domain.conventions import denounce, renew, terminate
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.domain.requests import accept_request, file_request, refuse_request
from ep_web.domain.reviews import answer_item, open_review
from ep_web.extensions import db
from ep_web.models import AccountStatus, AuditEvent, ConventionState, RequestKind, RequestStatus, ReviewDecision
from ep_web.transaction import commit
from workers.periodic import apply_gestionnaire_inactivations


def _identity(email):
    return {"civilite": "M.", "nom": "Durand", "prenom": "Noé", "fonction": "Directeur",
            "telephone": "01 00 00 00 09", "email": email}


@pytest.mark.parametrize(
    "start,expected",
    [
        (date(2026, 3, 2), date(2026, 3, 9)),  # Monday → next Monday
        (date(2026, 5, 7), date(2026, 5, 18)),  # 8 May and 14 May (Ascension) are holidays: 11, 12, 13, 15, 18
        (date(2026, 12, 24), date(2027, 1, 4)),  # 25 Dec and 1 Jan skipped: 28, 29, 30, 31, 4
        (date(2026, 3, 7), date(2026, 3, 13)),  # filed on a Saturday
    ],
)
def test_five_working_days_skip_weekends_and_french_holidays(start, expected):
    assert add_working_days(start, 5) == expected


def test_gestionnaire_creation_needs_a_convention_in_force(app, make):
    w = make.world()
    with pytest.raises(NotAllowed):
        create_gestionnaire(w.other_admin, w.partenaire, _identity(f"x@{w.partenaire.domain_list[0]}"))


@pytest.mark.parametrize("email,message", [
    ("jean.dupont@gmail.com", "messagerie personnelle"),
    ("jean.dupont@orange.fr", "messagerie personnelle"),
    ("jean.dupont@autre-structure.fr", "domaine enregistré"),
    ("pas-une-adresse", "invalide"),
])
def test_professional_email_rules(app, make, email, message):
    w = make.world()
    with pytest.raises(DomainError, match=message) as exc:
        create_gestionnaire(w.admin, w.partenaire, _identity(email))
    assert exc.value.field == "email"


def test_only_the_caisse_modifies_a_gestionnaire(app, make):
    w = make.world()
    email = f"nouveau@{w.partenaire.domain_list[0]}"
    with pytest.raises(NotAllowed):
        modify_gestionnaire(w.gestionnaire2, w.gestionnaire, _identity(email))
    assert modify_gestionnaire(w.admin, w.gestionnaire, _identity(email)) == [
        "civilite", "nom", "prenom", "fonction", "telephone", "email"]


def test_inactivation_request_needs_15_days_and_a_remaining_gestionnaire(app, make, clock):
    w = make.world()
    today = clock.now().date()
    with pytest.raises(DomainError, match="au moins 15 jours") as exc:
        file_request(w.gestionnaire, w.caisse, RequestKind.INACTIVATION, target_id=w.gestionnaire2.id,
                     wished_date=today + timedelta(days=14))
    assert exc.value.field == "wished_date"
    req = file_request(w.gestionnaire, w.caisse, RequestKind.INACTIVATION, target_id=w.gestionnaire2.id,
                       wished_date=today + timedelta(days=15))
    assert req.deadline == add_working_days(today, 5)
    commit()
    inactivate(w.gestionnaire2, actor=w.admin, reason="départ anticipé")
    commit()
    with pytest.raises(DomainError, match="seul qui reste"):
        file_request(w.gestionnaire, w.caisse, RequestKind.INACTIVATION, target_id=w.gestionnaire.id,
                     wished_date=today + timedelta(days=30))


def test_scheduled_inactivation_applies_on_the_date_and_reattaches_techniciens(app, make, clock, outbox):
    w = make.world()
    today = clock.now().date()
    req = file_request(w.gestionnaire2, w.caisse, RequestKind.INACTIVATION, target_id=w.gestionnaire.id,
                       wished_date=today + timedelta(days=20))
    commit()
    accept_request(w.admin, req)
    commit()
    assert req.status == RequestStatus.DONE
    assert w.gestionnaire.scheduled_inactivation_on == today + timedelta(days=20)
    assert any("traitée" in m.body_text for m in outbox(w.gestionnaire2.email))
    clock.advance(days=19)
    assert apply_gestionnaire_inactivations() == 0
    clock.advance(days=1)
    assert apply_gestionnaire_inactivations() == 1
    assert apply_gestionnaire_inactivations() == 0  # idempotent
    db.session.expire_all()
    assert w.gestionnaire.status == AccountStatus.INACTIVE
    assert w.technicien.status == AccountStatus.ACTIVE
    assert w.technicien.manager_id == w.gestionnaire2.id


def test_creation_request_accepted_creates_the_gestionnaire(app, make, outbox):
    w = make.world()
    email = f"relais@{w.partenaire.domain_list[0]}"
    req = file_request(w.gestionnaire, w.caisse, RequestKind.CREATION, data=_identity(email))
    commit()
    assert outbox(w.caisse.referent_email)
    with pytest.raises(DomainError, match="motif"):
        refuse_request(w.admin, req, "")
    with pytest.raises(NotAllowed):
        accept_request(w.other_admin, req)
    account = accept_request(w.admin, req)
    commit()
    assert account.email == email and account.status == AccountStatus.PENDING
    assert "/activation/" in outbox(email)[0].body_text
    with pytest.raises(DomainError, match="déjà été traitée"):
        accept_request(w.admin, req)


def test_caisse_inactivation_notifies_gestionnaires_and_needs_a_reason(app, make, outbox):
    w = make.world()
    with pytest.raises(DomainError, match="motif"):
        inactivate(w.technicien, actor=w.admin, reason="")
    inactivate(w.technicien, actor=w.admin, reason="Vol de l'ordinateur portable")
    commit()
    for g in (w.gestionnaire, w.gestionnaire2):
        assert "Vol de l'ordinateur portable" in outbox(g.email)[-1].body_text
    with pytest.raises(NotAllowed):
        inactivate(w.other_technicien, actor=w.admin, reason="x")


def test_report_misuse_inactivates_and_alerts_the_caisse(app, make, outbox):
    w = make.world()
    with pytest.raises(DomainError, match="Décrivez"):
        report_misuse(w.gestionnaire, w.technicien, " ")
    report_misuse(w.gestionnaire, w.technicien, "Connexions la nuit depuis l'étranger")
    commit()
    assert w.technicien.status == AccountStatus.INACTIVE
    alert = outbox(w.caisse.referent_email)[-1]
    assert w.technicien.login in alert.body_text
    actions = db.session.scalars(db.select(AuditEvent.action)).all()
    assert "misuse_reported" in actions and "account_inactivated" in actions
    with pytest.raises(NotAllowed):
        report_misuse(w.gestionnaire, w.other_technicien, "x")


def test_schedule_refused_for_the_only_active_gestionnaire(app, make, clock):
    w = make.world()
    inactivate(w.gestionnaire2, actor=w.admin, reason="départ")
    commit()
    with pytest.raises(DomainError, match="seul gestionnaire de la structure qui reste"):
        schedule_gestionnaire_inactivation(w.admin, w.gestionnaire, clock.now().date() + timedelta(days=20))


def test_end_of_convention_rule(app, make):
    w = make.world()
    # The partner also works with the other caisse: only that access goes.
    make.convention(w.partenaire, w.other_caisse)
    assert terminate(w.admin, w.partenaire.conventions[0]) == 0
    commit()
    assert not caisse_in_force(w.caisse.id, w.partenaire.id)
    assert w.technicien.status == AccountStatus.ACTIVE
    # Its last convention ends: every account is inactivated.
    last = [c for c in w.partenaire.conventions if c.caisse_id == w.other_caisse.id][0]
    assert terminate(w.other_admin, last, resiliation=True, reason="fin du partenariat") == 3
    commit()
    db.session.expire_all()
    assert {w.technicien.status, w.gestionnaire.status} == {AccountStatus.INACTIVE}
    assert last.state == ConventionState.RESILIEE


def test_denounce_and_renew(app, make):
    w = make.world()
    conv = w.partenaire.conventions[0]
    end = conv.ends_on
    denounce(w.admin, conv)
    assert conv.state == ConventionState.DENONCEE and not conv.tacit_renewal
    with pytest.raises(NotAllowed):
        renew(w.other_admin, conv)
    renew(w.admin, conv)
    assert conv.state == ConventionState.ACTIVE and conv.ends_on == end.replace(year=end.year + 1)


def test_review_campaign(app, make, clock, outbox):
    w = make.world()
    review = open_review(w.admin, w.partenaire, clock.now().date() + timedelta(days=30))
    commit()
    assert len(review.items) == 3  # two gestionnaires, one technicien
    assert outbox(w.gestionnaire.email)
    with pytest.raises(DomainError, match="déjà en cours"):
        open_review(w.admin, w.partenaire, clock.now().date() + timedelta(days=30))
    items = {i.account_id: i for i in review.items}
    with pytest.raises(NotAllowed):
        answer_item(w.other_gestionnaire, items[w.technicien.id], ReviewDecision.CONFIRMED)
    answer_item(w.gestionnaire, items[w.technicien.id], ReviewDecision.INACTIVATED)
    answer_item(w.gestionnaire, items[w.gestionnaire.id], ReviewDecision.CONFIRMED)
    assert review.completed_at is None
    answer_item(w.gestionnaire, items[w.gestionnaire2.id], ReviewDecision.CONFIRMED)
    commit()
    assert review.completed_at is not None
    assert w.technicien.status == AccountStatus.INACTIVE


__all__ = ["datetime", "timezone"]


def test_reactivation_keeps_the_real_last_login_and_stamps_the_reactivation(app, make, clock):
    w = make.world()
    last_login = w.technicien.last_login_at
    inactivate(w.technicien, actor=w.gestionnaire, reason="congé")
    clock.advance(days=10)
    from ep_web.domain.accounts import reactivate_technicien, resend_activation

    reactivate_technicien(w.gestionnaire, w.technicien)
    commit()
    assert w.technicien.last_login_at == last_login
    assert w.technicien.reactivated_at == clock.now()
    pending = make.technicien(w.partenaire, status=AccountStatus.PENDING)
    resend_activation(w.gestionnaire, pending)
    commit()
    assert db.session.scalars(db.select(AuditEvent.action).where(AuditEvent.target_id == pending.id)).all() == [
        "activation_resent"]
