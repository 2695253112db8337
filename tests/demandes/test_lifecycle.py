"""The demande lifecycle on the model (SPEC §4): transmise → prise en charge →
(en attente de complément ⇄ prise en charge) → clôturée. Illegal moves are
refused in French; a demande is taken before it is closed or a complement is
asked, and the timeline says who took it and when."""
from datetime import timedelta

import pytest

from ep_web.domain import demandes as dm
from ep_web.domain.errors import DomainError
from ep_web.extensions import db
from ep_web.models import Demande, DemandeStatus, Outcome
from ep_web.transaction import commit
from tests.traitement.conftest import DETAILS, PERSON

S = DemandeStatus


@pytest.fixture
def w(make):
    w = make.world()
    w.agent2 = make.agent(w.caisse)
    return w


def _new(w, service="contact") -> Demande:
    d = dm.create_demande(w.technicien, dm.DemandeInput(
        service=service, caisse_id=w.caisse.id, departement=w.caisse.departement_list[0],
        details=dict(DETAILS[service]), consent=service == "signalement", duplicate_confirmed=True, **PERSON))
    commit()
    return d


def _in(w, status: DemandeStatus) -> Demande:
    """A demande brought to ``status`` through the real acts."""
    d = _new(w)
    if status != S.TRANSMISE:
        dm.take(w.agent, d)
    if status == S.ATTENTE_COMPLEMENT:
        dm.request_complement(w.agent, d, "Merci de joindre l'avis d'imposition.")
    if status == S.CLOTUREE:
        dm.close(w.agent, d, Outcome.TRAITEE.value)
    commit()
    assert d.status == status
    return d


LEGAL = {(S.TRANSMISE, S.PRISE_EN_CHARGE), (S.PRISE_EN_CHARGE, S.ATTENTE_COMPLEMENT),
         (S.PRISE_EN_CHARGE, S.CLOTUREE), (S.ATTENTE_COMPLEMENT, S.PRISE_EN_CHARGE),
         (S.ATTENTE_COMPLEMENT, S.CLOTUREE)}


@pytest.mark.parametrize("start", list(S))
@pytest.mark.parametrize("target", list(S))
def test_move_to_allows_the_lifecycle_moves_only(app, w, clock, start, target):
    d = _in(w, start)
    if (start, target) in LEGAL:
        d.move_to(target, at=clock.now())
        assert d.status == target
        return
    with pytest.raises(DomainError) as refused:
        d.move_to(target, at=clock.now())
    assert d.status == start
    message = refused.value.message
    assert message.endswith(".") and any(word in message for word in ("demande", "complément")), message
    if start == S.CLOTUREE:
        assert message == "Cette demande est clôturée."


def test_predicates_follow_the_status(app, w):
    expected = {  # status: (is_open, can_close, can_ask_complement, awaits_complement, badge)
        S.TRANSMISE: (True, True, True, False, "fr-badge--info"),
        S.PRISE_EN_CHARGE: (True, True, True, False, "fr-badge--new"),
        S.ATTENTE_COMPLEMENT: (True, True, False, True, "fr-badge--warning"),
        S.CLOTUREE: (False, False, False, False, "fr-badge--success"),
    }
    for status, values in expected.items():
        d = _in(w, status)
        assert (d.is_open, d.can_close, d.can_ask_complement, d.awaits_complement, d.status_badge) == values


@pytest.mark.parametrize("act", ["close", "complement", "reply"])
def test_an_act_on_a_demande_nobody_took_records_the_take_first(app, w, clock, outbox, act):
    d = _new(w)
    clock.advance(hours=3)
    taken_at = clock.now()
    if act == "close":
        dm.close(w.agent, d, Outcome.SANS_SUITE.value)
        then, kind = S.CLOTUREE, "closed"
    elif act == "complement":
        dm.request_complement(w.agent, d, "Merci de joindre l'avis d'imposition.")
        then, kind = S.ATTENTE_COMPLEMENT, "complement_requested"
    else:
        dm.caisse_reply(w.agent, d, "Nous étudions la situation.")
        then, kind = S.PRISE_EN_CHARGE, "message_caisse"
    commit()
    db.session.expire_all()
    assert d.status == then
    assert [e.kind for e in d.events] == ["created", "taken", kind]
    take = d.events[1]
    assert take.actor_id == w.agent.id and take.at == taken_at
    assert d.assigned_to_id == w.agent.id and d.taken_at == taken_at
    # The author hears of what happened once, not of the implicit take.
    assert len(outbox(w.technicien.email)) == 1


def test_an_act_on_a_taken_demande_keeps_its_agent_and_its_take(app, w, clock):
    d = _in(w, S.PRISE_EN_CHARGE)
    first_take = d.taken_at
    clock.advance(hours=1)
    dm.close(w.agent2, d, Outcome.TRAITEE.value)
    commit()
    assert [e.kind for e in d.events] == ["created", "taken", "closed"]
    assert d.assigned_to_id == w.agent.id and d.taken_at == first_take
    assert d.events[-1].actor_id == w.agent2.id


def test_take_over_keeps_the_status_and_says_who(app, w):
    d = _in(w, S.ATTENTE_COMPLEMENT)
    assert d.take(w.agent2.id, d.updated_at) is False
    assert d.status == S.ATTENTE_COMPLEMENT and d.assigned_to_id == w.agent2.id
    assert d.events[-1].kind == "taken" and d.events[-1].actor_id == w.agent2.id


def test_refused_acts_change_nothing(app, w, outbox):
    waiting = _in(w, S.ATTENTE_COMPLEMENT)
    with pytest.raises(DomainError, match="prise en charge"):
        dm.request_complement(w.agent, waiting, "Encore autre chose.")
    closed = _in(w, S.CLOTUREE)
    for act in (lambda: dm.take(w.agent2, closed), lambda: dm.close(w.agent, closed, "traitee"),
                lambda: dm.caisse_reply(w.agent, closed, "Encore ?"),
                lambda: closed.receive_complement(w.technicien.id, closed.updated_at)):
        with pytest.raises(DomainError, match="Cette demande est clôturée."):
            act()
    fresh = _new(w)
    with pytest.raises(DomainError, match="n'attend pas de complément"):
        fresh.receive_complement(w.technicien.id, fresh.updated_at)
    assert fresh.status == S.TRANSMISE and [e.kind for e in fresh.events] == ["created"]


def test_sla_state_and_overdue_share_one_definition(app, w, clock):
    d = _new(w, "signalement")
    assert d.sla_state == "ok" and not d.is_overdue
    clock.advance(hours=36)
    assert d.sla_state == "soon"
    clock.at = d.due_at - timedelta(seconds=1)
    assert not d.is_overdue
    clock.at = d.due_at
    assert d.sla_state == "overdue" and d.is_overdue
    dm.close(w.agent, d, Outcome.PARCOURS_CREE.value)
    assert d.sla_state is None and not d.is_overdue
