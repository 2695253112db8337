"""One implementation per rule (SPEC §3): an account inactivated by a person
(accounts.inactivate, conventions.terminate) and by the nightly set-based rule
(ep_web.domain.lifecycle) gets the same effects — status, reason, date, no
pending schedule, sessions ended, techniciens reattached, audit events, e-mails.

Each test builds two identical partners, sends one through the nightly path and
the other through the interactive one, and compares what happened to each."""
from datetime import timedelta

import pytest

from ep_web.domain import lifecycle
from ep_web.domain.accounts import schedule_gestionnaire_inactivation
from ep_web.domain.conventions import terminate
from ep_web.domain.sessions import open_sessions
from ep_web.extensions import db
from ep_web.models import AccountStatus, AuditEvent, ConventionState, OutboxEmail
from ep_web.transaction import commit


@pytest.fixture
def caisse(make):
    c = make.caisse()
    c.admin = make.admin_caisse(c)
    return c


def _partner(make, caisse):
    """Two gestionnaires; three techniciens of the first (one not activated
    yet), one of the second; each partner user logged in with a client."""
    p = make.partenaire(caisse)
    accounts = {"g1": make.gestionnaire(p), "g2": make.gestionnaire(p)}
    for name, kw in (("t1", {}), ("t2", {}), ("t_pending", {"status": AccountStatus.PENDING})):
        accounts[name] = make.technicien(p, manager_id=accounts["g1"].id, **kw)
    accounts["t3"] = make.technicien(p, manager_id=accounts["g2"].id)
    return p, accounts


def _logged_in(app, login, accounts):
    return {name: login(a, c=app.test_client()) for name, a in accounts.items() if a.status == AccountStatus.ACTIVE}


def _snapshot(accounts):
    return {name: (a.id,) for name, a in accounts.items()}


def _effects(partenaire, accounts, before, clients, emails_before):
    """What the inactivation did, with ids replaced by the accounts' roles."""
    db.session.expire_all()
    role = {a.id: name for name, a in accounts.items()}
    state = {}
    for name, a in accounts.items():
        state[name] = (a.status, a.inactivation_reason, a.inactivated_at, a.scheduled_inactivation_on,
                       role.get(a.manager_id), not open_sessions(a))
    events = sorted(
        (e.action, role[e.target_id], e.details.get("reason"), e.caisse_id, e.partenaire_id == partenaire.id)
        for e in db.session.scalars(db.select(AuditEvent).where(AuditEvent.target_type == "account",
                                                                 AuditEvent.action == "account_inactivated",
                                                                 AuditEvent.target_id.in_(role)))
    )
    addresses = {a.email: name for name, a in accounts.items()}
    emails = sorted((addresses.get(m.to, m.to), m.template) for m in db.session.scalars(
        db.select(OutboxEmail).where(OutboxEmail.id > emails_before)))
    # A session opened before ends at its next request.
    sessions = {name: c.get("/").headers.get("Location", "") for name, c in clients.items()}
    return state, events, emails, sessions


def _last_email_id():
    return db.session.scalar(db.select(db.func.max(OutboxEmail.id))) or 0


def test_a_gestionnaire_leaving_on_its_date_nightly_or_at_once(app, make, clock, login, caisse):
    nightly, n_accounts = _partner(make, caisse)
    at_once, i_accounts = _partner(make, caisse)
    schedule_gestionnaire_inactivation(caisse.admin, n_accounts["g1"], clock.now().date() + timedelta(days=1))
    commit()
    clock.advance(days=1)
    n_clients, i_clients = _logged_in(app, login, n_accounts), _logged_in(app, login, i_accounts)
    n_before, i_before = _snapshot(n_accounts), _snapshot(i_accounts)
    mark = _last_email_id()
    assert lifecycle.apply_gestionnaire_inactivations() == {"inactivated": 1, "techniciens_reattached": 3, "waiting": 0}
    commit()
    n_effects = _effects(nightly, n_accounts, n_before, n_clients, mark)

    mark = _last_email_id()
    schedule_gestionnaire_inactivation(caisse.admin, i_accounts["g1"], clock.now().date())
    commit()
    i_effects = _effects(at_once, i_accounts, i_before, i_clients, mark)

    assert n_effects == i_effects
    state, events, emails, sessions = i_effects
    assert state["g1"] == (AccountStatus.INACTIVE, lifecycle.REASON_LEAVING, clock.now(), None, None, True)
    assert {state[t][4] for t in ("t1", "t2", "t_pending", "t3")} == {"g2"}
    # Its sessions ended; those who stay keep theirs (t_pending never had one).
    assert not any(state[name][5] for name in state if name not in ("g1", "t_pending"))
    assert events == [("account_inactivated", "g1", lifecycle.REASON_LEAVING, None, True)]
    assert emails == []
    assert "/connexion" in sessions["g1"] and not any("/connexion" in sessions[n] for n in sessions if n != "g1")


def test_the_end_of_the_last_convention_nightly_or_by_the_caisse(app, make, clock, login, caisse):
    nightly, n_accounts = _partner(make, caisse)
    at_once, i_accounts = _partner(make, caisse)
    ending = nightly.conventions[0]
    ending.state, ending.tacit_renewal, ending.ends_on = ConventionState.DENONCEE, False, clock.now().date()
    db.session.commit()
    clock.advance(days=1)
    n_clients, i_clients = _logged_in(app, login, n_accounts), _logged_in(app, login, i_accounts)
    n_before, i_before = _snapshot(n_accounts), _snapshot(i_accounts)
    mark = _last_email_id()
    assert lifecycle.renew_and_end_conventions() == {"renewed": 0, "ended": 1, "accounts_inactivated": 6}
    commit()
    n_effects = _effects(nightly, n_accounts, n_before, n_clients, mark)

    mark = _last_email_id()
    assert terminate(caisse.admin, at_once.conventions[0], resiliation=True, reason="Fin du partenariat") == 6
    commit()
    i_effects = _effects(at_once, i_accounts, i_before, i_clients, mark)

    assert n_effects == i_effects
    state, events, emails, sessions = i_effects
    for name in state:  # everyone out, nobody left to attach the techniciens to
        assert state[name] == (AccountStatus.INACTIVE, lifecycle.REASON_END, clock.now(), None, None, True), name
    assert [e[1] for e in events] == sorted(state) and {e[2] for e in events} == {lifecycle.REASON_END}
    assert emails == []
    assert all("/connexion" in location for location in sessions.values())
