"""What the caisse and the gestionnaire see of a partner, read from the domain
(SPEC §2, §3): the caisse's list, the review progress, the requests' queues."""
from datetime import date, timedelta

import pytest

from ep_web.domain import partenaires, requests, reviews
from ep_web.domain.accounts import seated_gestionnaires
from ep_web.domain.errors import DomainError
from ep_web.domain.habilitations import habilitation_rows, row_for
from ep_web.models import AccountStatus, ConventionState, RequestKind, ReviewDecision
from ep_web.transaction import commit


def test_the_caisse_list_keeps_the_convention_in_force_over_a_later_ended_one(make):
    w = make.world()
    make.convention(w.partenaire, w.caisse, state=ConventionState.RESILIEE, signed_on=date(2026, 1, 1),
                    ends_on=date(2027, 6, 1))
    ended = make.partenaire(None, name="Ancienne structure fictive")
    make.convention(ended, w.caisse, state=ConventionState.TERMINEE, signed_on=date(2024, 1, 1),
                    ends_on=date(2025, 1, 1))
    rows = {r.partenaire.id: r for r in partenaires.for_caisse(w.caisse.id)}
    assert set(rows) == {w.partenaire.id, ended.id}  # not the other caisse's partner
    assert rows[w.partenaire.id].convention.state == ConventionState.ACTIVE
    assert rows[ended.id].convention.state == ConventionState.TERMINEE
    assert rows[w.partenaire.id].seats.gestionnaires.used == 2
    assert [r.partenaire.id for r in partenaires.for_caisse(w.caisse.id, q="ANCIENNE")] == [ended.id]
    assert partenaires.for_caisse(w.caisse.id, q="%") == []  # taken literally


def test_sites_and_parents_known_to_the_caisse(make):
    w = make.world()
    site = make.partenaire(w.caisse, name="Site fictif", parent_id=w.partenaire.id)
    make.partenaire(w.other_caisse, name="Site d'ailleurs fictif", parent_id=w.partenaire.id)
    assert partenaires.sites_known_to(w.caisse.id, w.partenaire) == [site]
    assert partenaires.parent_choices(w.caisse.id) == [w.partenaire]  # a site is no parent
    assert partenaires.parent_choices(w.caisse.id, exclude_id=w.partenaire.id) == []


def test_review_progress_gestionnaires_first_and_latest_campaign(make, clock):
    w = make.world()
    assert reviews.progress(reviews.latest_for(w.partenaire.id)) is None
    review = reviews.open_review(w.admin, w.partenaire, make.today() + timedelta(days=10))
    commit()
    progress = reviews.progress(reviews.latest_for(w.partenaire.id))
    assert progress.review == review and (progress.answered, progress.total, progress.remaining) == (0, 3, 3)
    assert [i.account.profile.value for i in progress.items] == ["gestionnaire", "gestionnaire", "technicien"]
    for item in progress.items:
        reviews.answer_item(w.gestionnaire, item, ReviewDecision.CONFIRMED)
    commit()
    # Completed: no campaign open, the caisse still sees the last one.
    assert reviews.open_review_for(w.partenaire.id) is None
    done = reviews.progress(reviews.latest_for(w.partenaire.id))
    assert done.review == review and done.remaining == 0 and not done.overdue
    clock.advance(days=30)
    assert not done.overdue  # a completed campaign is never late


def test_review_overdue_after_its_deadline(make, clock):
    w = make.world()
    reviews.open_review(w.admin, w.partenaire, make.today() + timedelta(days=2))
    commit()
    assert not reviews.progress(reviews.latest_for(w.partenaire.id)).overdue
    clock.advance(days=3)
    assert reviews.progress(reviews.latest_for(w.partenaire.id)).overdue


def test_request_lists_are_per_caisse_and_per_partner(make, clock):
    w = make.world()
    domain = w.partenaire.domain_list[0]
    data = {"civilite": "M.", "nom": "Demande", "prenom": "Bruno", "fonction": "", "telephone": "04 50 00 00 02",
            "email": f"bruno@{domain}"}
    first = requests.file_request_to(w.gestionnaire, w.caisse.id, RequestKind.CREATION, data=data)
    other = requests.file_request_to(w.other_gestionnaire, w.other_caisse.id, RequestKind.CREATION,
                                     data={**data, "email": f"bruno@{w.other_partenaire.domain_list[0]}"})
    commit()
    clock.advance(days=1)
    second = requests.file_request_to(w.gestionnaire, w.caisse.id, RequestKind.MODIFICATION,
                                      target_id=w.gestionnaire2.id, data={**data, "email": f"g2@{domain}"})
    requests.refuse_request(w.admin, first, "Doublon")
    commit()
    assert requests.pending_from(w.caisse.id, w.partenaire.id) == [second]
    assert requests.pending_from(w.caisse.id, w.other_partenaire.id) == []
    assert requests.handled_by_caisse(w.caisse.id) == [first]
    assert requests.filed_by(w.partenaire.id) == [second, first]  # latest first
    assert requests.filed_by(w.other_partenaire.id) == [other]


def test_filing_to_an_unknown_caisse_is_refused_on_its_field(make):
    w = make.world()
    for caisse_id in (None, 0, 999999):
        with pytest.raises(DomainError) as exc:
            requests.file_request_to(w.gestionnaire, caisse_id, RequestKind.INACTIVATION,
                                     target_id=w.gestionnaire2.id, wished_date=make.today() + timedelta(days=20))
        assert exc.value.field == "caisse_id"


def test_seated_gestionnaires_and_one_habilitation_row(make):
    w = make.world()
    pending = make.gestionnaire(w.partenaire, status=AccountStatus.PENDING, nom="Zeta")
    make.gestionnaire(w.partenaire, status=AccountStatus.INACTIVE)
    seated = seated_gestionnaires(w.partenaire.id)
    assert set(seated) == {w.gestionnaire, w.gestionnaire2, pending} and seated[-1] == pending
    rows = {r.account.id: r for r in habilitation_rows(w.partenaire.id)}
    for account in (w.technicien, w.gestionnaire, pending):
        assert row_for(account) == rows[account.id]
