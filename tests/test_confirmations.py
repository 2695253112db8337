"""Confirmation without JavaScript (issue 13 §4, ep_web/confirm.py): every
destructive or irreversible action behind a ``data-confirm`` button acts on
one click only when the JS dialog confirmed it (``confirmed=1``). A plain POST
gets a confirmation page that re-posts what was typed; nothing is done until
the person confirms there. Each case plays it as a browser without JS would:
post, read the page's form, submit it.

Left on one click (not destructive): lifting a suspension and renewing a
convention (both undone by the opposite action). Already a step of their own:
the end-of-convention page, the account inactivation pages, the fraud report
and the ticket escalation (tests/gestion, tests/caisse, tests/tickets)."""
import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ep_web.domain import drafts, maintenance, news, second_factor, tickets
from ep_web.domain.requests import file_request
from ep_web.extensions import db
from ep_web.models import Account as AccountModel
from ep_web.models import (
    AccountStatus,
    Convention,
    ConventionState,
    GestionnaireRequest,
    MaintenanceWindow,
    News,
    Partenaire,
    RecoveryCode,
    RequestKind,
    RequestStatus,
    Ticket,
    TicketStatus,
)
from ep_web.models.draft import DemandeDraft
from ep_web.transaction import commit
from tests.caisse.helpers import identity

HTMX = {"HX-Request": "true"}


def _draft(w, clock):
    d = drafts.save(w.technicien, "contact", {"nom": "Brouillonne", "message": "À finir."})[0]
    commit()
    return (w.technicien, f"/demandes/brouillons/{d.id}/supprimer", {},
            lambda: db.session.get(DemandeDraft, d.id) is None, "Brouillonne")


def _suspension(w, clock):
    p = w.partenaire
    return (w.admin, f"/caisse/partenaires/{p.id}/suspendre", {"suspend-reason": "Connexions frauduleuses"},
            lambda: db.session.get(Partenaire, p.id).is_suspended, "Connexions frauduleuses")


def _denunciation(w, clock):
    conv = db.session.scalar(select(Convention).where(Convention.partenaire_id == w.partenaire.id))
    return (w.admin, f"/caisse/partenaires/{w.partenaire.id}/conventions/{conv.id}/denoncer", {},
            lambda: db.session.get(Convention, conv.id).state == ConventionState.DENONCEE, "ne sera pas reconduite")


def _refusal(w, clock):
    req = file_request(w.gestionnaire, w.caisse, RequestKind.CREATION,
                       data=identity(email=f"bruno.demande@{w.partenaire.domain_list[0]}"))
    commit()
    return (w.admin, f"/caisse/demandes/{req.id}/refuser", {"r-response": "Quota de la structure atteint"},
            lambda: db.session.get(GestionnaireRequest, req.id).status == RequestStatus.REFUSED,
            "Quota de la structure atteint")


def _agent_inactivation(w, clock):
    a = w.agent
    return (w.admin, f"/caisse/agents/{a.id}/inactiver", {"reason": "Départ de la caisse"},
            lambda: db.session.get(AccountModel, a.id).status == AccountStatus.INACTIVE, "Départ de la caisse")


def _news_deletion(w, clock):
    n = news.create_news(w.admin, title="Fermeture de l'accueil", body="Le 24 décembre.", publish_at=clock.now())
    commit()
    return (w.admin, f"/caisse/actualites/{n.id}/supprimer", {},
            lambda: db.session.get(News, n.id) is None, "Fermeture de l'accueil")


def _recovery_codes(w, clock):
    second_factor.regenerate_recovery_codes(w.admin)
    commit()
    before = set(db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.account_id == w.admin.id)))
    return (w.admin, "/compte/codes-de-secours", {},
            lambda: before.isdisjoint(db.session.scalars(
                select(RecoveryCode.code_hash).where(RecoveryCode.account_id == w.admin.id))),
            "codes de secours actuels ne fonctionneront plus")


def _second_factor_reset(w, clock):
    g = w.gestionnaire
    second_factor.enrol_with_secret(g, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    commit()
    back = f"/caisse/partenaires/{w.partenaire.id}/gestionnaires/{g.id}"
    return (w.admin, f"/comptes/{g.id}/double-authentification/reinitialiser?next={back}", {},
            lambda: db.session.get(AccountModel, g.id).totp_secret is None, g.full_name)


def _maintenance_cancel(w, clock):
    at = clock.now()
    win = maintenance.schedule(w.national, at + timedelta(days=1), at + timedelta(days=1, hours=1))
    commit()
    return (w.national, f"/national/maintenance/{win.id}/annuler", {},
            lambda: db.session.get(MaintenanceWindow, win.id).cancelled_at is not None, "recréer")


def _maintenance_end(w, clock):
    at = clock.now()
    win = maintenance.schedule(w.national, at + timedelta(minutes=5), at + timedelta(hours=3))
    commit()
    clock.advance(minutes=10)
    return (w.national, f"/national/maintenance/{win.id}/terminer", {},
            lambda: db.session.get(MaintenanceWindow, win.id).ends_at == clock.now(), "rouvert à tous")


def _ticket(w):
    t = tickets.open_ticket(w.technicien, caisse_id=w.caisse.id, subject="Export impossible",
                            description="L'export renvoie une erreur.", area="autre")
    commit()
    return t


def _caisse_resolution(w, clock):
    t = _ticket(w)
    return (w.admin, f"/caisse/tickets/{t.id}/resoudre", {},
            lambda: db.session.get(Ticket, t.id).status == TicketStatus.RESOLU, t.reference)


def _national_resolution(w, clock):
    t = _ticket(w)
    tickets.escalate(w.admin, t)
    commit()
    return (w.national, f"/national/tickets/{t.id}/resoudre", {},
            lambda: db.session.get(Ticket, t.id).status == TicketStatus.RESOLU, t.reference)


CASES = {
    "draft deletion": _draft, "structure suspension": _suspension, "convention denunciation": _denunciation,
    "request refusal": _refusal, "agent inactivation": _agent_inactivation, "news deletion": _news_deletion,
    "new recovery codes": _recovery_codes, "second factor reset": _second_factor_reset,
    "maintenance cancelled": _maintenance_cancel, "maintenance ended": _maintenance_end,
    "ticket resolved by the caisse": _caisse_resolution, "ticket resolved by national": _national_resolution,
}


def _confirmation_form(page: str) -> tuple[str, dict]:
    """The action and the fields of the page's form that carries ``confirmed``,
    as a browser would submit it (hidden inputs and text areas)."""
    for form in re.findall(r"<form\b.*?</form>", page, flags=re.S):
        if 'name="confirmed" value="1"' not in form:
            continue
        action = html.unescape(re.search(r'action="([^"]*)"', form).group(1))
        fields = {html.unescape(n): html.unescape(v)
                  for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)}
        for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, flags=re.S):
            # As browsers parse it: a newline right after <textarea> is not part of the value.
            fields[html.unescape(name)] = html.unescape(re.sub(r"^\r?\n", "", text))
        return action, fields
    raise AssertionError("no confirmation form on the page")


@pytest.mark.parametrize("case", CASES)
def test_without_javascript_the_server_asks_first(client, make, login, clock, case):
    w = make.world()
    actor, url, data, done, shown = CASES[case](w, clock)
    login(actor)

    resp = client.post(url, data=data)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" in page, (resp.status_code, resp.headers.get("Location"))
    assert shown in html.unescape(page)
    db.session.expire_all()
    assert not done(), "acted on one click"

    action, fields = _confirmation_form(page)
    assert action == url
    assert fields.pop("confirmed") == "1"
    for name, value in data.items():  # what was typed comes back
        assert fields.get(name) == value
    resp = client.post(action, data={**fields, "confirmed": "1"})
    assert resp.status_code in (200, 303)
    assert "<html" not in resp.get_data(as_text=True) or 'name="confirmed"' not in resp.get_data(as_text=True)
    db.session.expire_all()
    assert done()


@pytest.mark.parametrize("case", [c for c in CASES if c != "agent inactivation"])
def test_an_htmx_request_without_the_dialogs_flag_does_nothing(client, make, login, clock, case):
    """htmx requests come from the JS page, whose dialog sets the flag: without
    it, nothing was confirmed (the agent's row inactivation keeps its own
    rule: its htmx row form is the dialog's)."""
    w = make.world()
    actor, url, data, done, _ = CASES[case](w, clock)
    login(actor)
    resp = client.post(url, data=data, headers=HTMX)
    assert resp.status_code == 422 and "Confirmez" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert not done()


def test_a_foreign_object_is_not_asked_about(client, make, login, clock):
    """The loader answers before the question: another caisse's ticket is a 404,
    not a confirmation page naming it."""
    w = make.world()
    other = tickets.open_ticket(w.other_technicien, caisse_id=w.other_caisse.id, subject="Sujet secret",
                                description="Rien.", area="autre")
    commit()
    login(w.admin)
    resp = client.post(f"/caisse/tickets/{other.id}/resoudre")
    assert resp.status_code == 404 and other.reference not in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Ticket).where(
        Ticket.status == TicketStatus.RESOLU)) == 0
