"""States and predicates on the models: what templates ask instead of testing
raw status values (badges, "holds a seat", "is live", "is overdue")."""
from datetime import timedelta

import pytest

from ep_web.models import (
    AccountStatus,
    ConventionState,
    GestionnaireRequest,
    HabilitationReview,
    JobRun,
    MaintenanceWindow,
    Profile,
    RequestKind,
    RequestStatus,
)


@pytest.mark.parametrize("status,seat,pending,inactive,badge", [
    (AccountStatus.PENDING, True, True, False, "fr-badge--info"),
    (AccountStatus.ACTIVE, True, False, False, "fr-badge--success"),
    (AccountStatus.INACTIVE, False, False, True, "fr-badge--error"),
])
def test_account_predicates(app, make, status, seat, pending, inactive, badge):
    w = make.world()
    account = make.technicien(w.partenaire, status=status)
    assert (account.holds_seat, account.is_pending, account.is_inactive, account.status_badge) == (
        seat, pending, inactive, badge)


def test_profiles():
    assert [p for p in Profile if p.is_admin] == [Profile.ADMIN_CAISSE, Profile.ADMIN_NATIONAL]
    assert [p for p in Profile if p.is_national] == [Profile.ADMIN_NATIONAL]


def test_convention_live_and_denounced(app, make):
    w = make.world()
    conv = w.partenaire.conventions[0]
    expected = {ConventionState.ACTIVE: (True, False), ConventionState.DENONCEE: (True, True),
                ConventionState.TERMINEE: (False, False), ConventionState.RESILIEE: (False, False)}
    for state, (live, denounced) in expected.items():
        conv.state = state
        assert (conv.is_live, conv.is_denounced) == (live, denounced), state
        assert conv.is_in_force(make.today()) == live


def test_request_and_review_deadlines_share_one_rule(app, make, clock):
    today = make.today()
    req = GestionnaireRequest(kind=RequestKind.CREATION, status=RequestStatus.PENDING, deadline=today)
    review = HabilitationReview(deadline=today)
    assert req.is_due_today and not req.is_overdue and not review.is_overdue
    clock.advance(days=1)
    assert req.is_overdue and not req.is_due_today and review.is_overdue
    req.status = RequestStatus.DONE
    review.completed_at = clock.now()
    assert not req.is_overdue and not review.is_overdue
    assert (req.is_done, req.status_badge) == (True, "fr-badge--success")


def test_maintenance_window_states(app, clock):
    start = clock.now() + timedelta(hours=2)
    window = MaintenanceWindow(starts_at=start, ends_at=start + timedelta(hours=1))
    assert (window.state_at(clock.now()), window.can_cancel, window.can_end) == ("programmee", True, False)
    clock.at = start
    assert (window.state_at(clock.now()), window.can_cancel, window.can_end) == ("en_cours", False, True)
    clock.at = start + timedelta(hours=1)
    assert (window.state_at(clock.now()), window.can_cancel, window.can_end) == ("terminee", False, False)
    window.cancelled_at = start
    assert window.state_at(clock.now()) == "annulee"


def test_job_run_badges():
    assert [(JobRun(status=s).status_label, JobRun(status=s).has_failed) for s in
            ("running", "ok", "failed", "interrupted")] == [
        ("En cours", False), ("Réussie", False), ("En échec", True), ("Interrompue", True)]
