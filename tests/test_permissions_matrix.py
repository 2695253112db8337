"""Every route × every profile × an object of another structure or caisse:
403 or 404, never data (SPEC §8). Rules are read from the URL map, so a new
route is covered as soon as it exists; a new kind of id in a URL fails here
until the world below seeds a real object of that kind (an id that exists
nowhere would make the 404 certain)."""
from datetime import date, timedelta

import pytest

from ep_web.domain import attachments, breaches, indicators, maintenance, news, notifications, resources, tickets
from ep_web.domain.demandes import DemandeInput, create_demande
from ep_web.domain.sessions import open_session
from ep_web.extensions import db
from ep_web.mail import queue_email
from ep_web.models import (
    EmailStatus,
    GestionnaireRequest,
    HabilitationReview,
    NotificationKind,
    RequestKind,
    ReviewItem,
    UserSession,
)
from ep_web.transaction import commit
from tests.attachments import samples
from tests.conftest import PASSWORD, totp_code

PROFILES = ["anonymous", "technicien", "gestionnaire", "agent", "admin_caisse", "admin_national"]
# Who may use each blueprint (SPEC §1, §8): tickets and news have one blueprint
# per side, maintenance is national's, the caisse queue (traitement) is for
# agents and the partner's demandes for techniciens; the follow-up indicators
# (SPEC §7) are the caisse's, national's and the partner's gestionnaires'.
AREA = {
    "national": {"admin_national"}, "caisse": {"admin_caisse"}, "gestion": {"gestionnaire"},
    "tickets": {"technicien", "gestionnaire"}, "caisse_tickets": {"admin_caisse"},
    "national_tickets": {"admin_national"}, "news": {"technicien", "gestionnaire"},
    "caisse_news": {"admin_caisse"}, "maintenance": {"admin_national"},
    "traitement": {"agent"}, "demandes": {"technicien"},
    "indicateurs": {"gestionnaire", "admin_caisse", "admin_national"},
    "ressources_admin": {"admin_caisse", "admin_national"},
}
PUBLIC_ENDPOINTS = {"static", "auth.login", "auth.forgot", "auth.activate", "auth.reset", "auth.cgu_text",
                    "auth.logout", "auth.second_step", "auth.proconnect_login", "auth.proconnect_callback"}
# Pages any logged-in profile may use on its own account.
ANY_PROFILE = {"main.index", "auth.cgu", "auth.change_password"}


# (profile, area) pairs for which no object of the area belongs to anyone else:
# national administers every caisse and every maintenance window, sees every
# data breach report (SPEC §7), and reads every caisse's indicators and resources.
UNIVERSAL = {("admin_national", "national"), ("admin_national", "maintenance"), ("admin_national", "breaches"),
             ("admin_national", "indicateurs"), ("admin_national", "ressources")}


def _rules(app):
    out = []
    for rule in app.url_map.iter_rules():
        # ops.*: the probes answer anyone (they say nothing); /metrics has a guard of
        # its own (token, or this machine only), tested in tests/test_ops.py. pages.*:
        # the footer's public pages (tests/test_pages.py).
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint.startswith(("errors.", "ops.", "pages.")):
            continue
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            out.append((rule.rule, rule.endpoint, method, sorted(rule.arguments)))
    return out


def _demande(technicien, caisse, nom):
    """A demande with one stored file (a real file: a missing one would answer 404 by itself)."""
    files = attachments.validate_uploads([samples.upload(samples.pdf(), "piece.pdf")], 0)
    return create_demande(technicien, DemandeInput(
        service="contact", caisse_id=caisse.id, civilite="Mme", nom=nom, prenom="Camille",
        date_naissance=date(1980, 1, 1), departement=caisse.departements.split(",")[0],
        details={"subject": "Carte Vitale", "message": "La personne n'a plus de carte."},
        duplicate_confirmed=True), files)


def _ticket(author, caisse, subject):
    return tickets.open_ticket(author, caisse_id=caisse.id, subject=subject, description="Le bouton ne répond pas.",
                               area="autre", screenshots=[samples.upload(samples.png(), "capture.png",
                                                                         content_type="image/png")])


@pytest.fixture
def world(make, clock):
    w = make.world()
    w.other_agent = make.agent(w.other_caisse)
    w.convention = w.partenaire.conventions[0]
    w.other_convention = w.other_partenaire.conventions[0]
    today = clock.now().date()
    w.other_request = GestionnaireRequest(partenaire_id=w.other_partenaire.id, caisse_id=w.other_caisse.id,
                                          kind=RequestKind.CREATION, payload={"nom": "Secretnom"},
                                          requested_by_id=w.other_gestionnaire.id, deadline=today)
    review = HabilitationReview(partenaire_id=w.other_partenaire.id, caisse_id=w.other_caisse.id,
                                opened_by_id=w.other_admin.id, deadline=today + timedelta(days=10))
    db.session.add_all([w.other_request, review])
    db.session.flush()
    w.other_item = ReviewItem(review_id=review.id, account_id=w.other_technicien.id)
    db.session.add(w.other_item)
    # Demandes and tickets: the user's own (the container of a mixed URL) and another's.
    w.demande = _demande(w.technicien, w.caisse, "Martin")
    w.other_demande = _demande(w.other_technicien, w.other_caisse, "Secretpersonne")
    w.ticket = _ticket(w.technicien, w.caisse, "Page lente")
    tickets.escalate(w.admin, w.ticket)  # so that national sees it: only the screenshot is foreign
    w.other_ticket = _ticket(w.other_technicien, w.other_caisse, "Sujet secret")  # not escalated
    w.other_news = news.create_news(w.other_admin, title="Actualité secrète", body="Réservée à l'autre caisse.",
                                    publish_at=clock.now())
    # A data breach report of another structure to another caisse (the breaches
    # area is open to every profile: SPEC §7 "any user reports one").
    w.other_report = breaches.report_breach(w.other_technicien, caisse_id=w.other_caisse.id,
                                            description="Rapport secret de violation.",
                                            noticed_at=clock.now() - timedelta(hours=1))
    w.other_info_session = indicators.add_session(w.other_admin, w.other_partenaire, held_on=today,
                                             topic="Session secrète", participants=3, staff_trained=0)
    w.other_resource = resources.publish(
        w.other_admin, title="Ressource secrète", description="", category="guide", version="1",
        published_on=today, files=[samples.upload(samples.pdf(), "secret.pdf")], url="")
    w.window = maintenance.schedule(w.national, clock.now() + timedelta(days=2),
                                    clock.now() + timedelta(days=2, hours=2), "Mise à jour")
    # A notification of another structure's technicien (SPEC §6): its link and reference are theirs.
    w.other_notification = notifications.notify(
        w.other_technicien, NotificationKind.DEMANDE, "reply",
        f"Demande {w.other_demande.reference} : nouvelle réponse de la caisse", f"/demandes/{w.other_demande.id}",
        demande_id=w.other_demande.id)
    # An open session of another user (SPEC §3: each closes only their own).
    open_session(w.other_technicien)
    w.other_session = db.session.scalars(db.select(UserSession).where(
        UserSession.account_id == w.other_technicien.id)).one()
    w.failed_email = queue_email(w.other_technicien.email, "activation", "Votre compte Espace Partenaires",
                                 account=w.other_technicien, token="jeton-fictif", hours=72)
    commit()
    w.failed_email.status = EmailStatus.FAILED  # the only e-mails national may send again
    db.session.commit()
    return w


def _foreign_ids(w, endpoint):
    """Every id parameter pointing at another caisse's / structure's object."""
    account = w.other_technicien
    if endpoint.startswith("national."):
        account = w.other_admin
    elif "agent" in endpoint:
        account = w.other_agent
    elif "gestionnaire" in endpoint:
        account = w.other_gestionnaire
    ticket_route = "tickets." in endpoint
    return {
        "partenaire_id": w.other_partenaire.id,
        "account_id": account.id,
        "convention_id": w.other_convention.id,
        "request_id": w.other_request.id,
        "item_id": w.other_item.id,
        "caisse_id": w.other_caisse.id,
        "demande_id": w.other_demande.id,
        "ticket_id": w.other_ticket.id,
        "attachment_id": (w.other_ticket if ticket_route else w.other_demande).attachments[0].id,
        "news_id": w.other_news.id,
        "window_id": w.window.id,
        "email_id": w.failed_email.id,
        "notification_id": w.other_notification.id,
        "report_id": w.other_report.id,
        "session_id": w.other_session.id,
        "info_session_id": w.other_info_session.id,
        "resource_id": w.other_resource.id,
    }


def _own_container_ids(w):
    """The container is the user's own (its partner, its caisse, its demande or
    ticket), the leaf is foreign."""
    return {"partenaire_id": w.partenaire.id, "caisse_id": w.caisse.id, "convention_id": w.other_convention.id,
            "demande_id": w.demande.id, "ticket_id": w.ticket.id}


def _secrets(w):
    return [w.other_partenaire.name, w.other_technicien.email, w.other_gestionnaire.email, w.other_admin.email,
            w.other_agent.email, "Secretnom", "Secretpersonne", w.other_demande.reference, "Sujet secret",
            w.other_ticket.reference, "Actualité secrète", w.other_report.reference, "Rapport secret",
            "Session secrète", "Ressource secrète"]


def _client_for(app, w, profile):
    client = app.test_client()
    if profile == "anonymous":
        return client
    account = {"technicien": w.technicien, "gestionnaire": w.gestionnaire, "agent": w.agent,
               "admin_caisse": w.admin, "admin_national": w.national}[profile]
    resp = client.post("/connexion", data={"login": account.login, "password": PASSWORD})
    if resp.headers["Location"].endswith("/connexion/code"):
        resp = client.post("/connexion/code", data={"code": totp_code(account)})
    assert resp.status_code in (302, 303) and "/connexion" not in resp.headers["Location"]
    return client


def _call(client, method, url):
    return client.get(url) if method == "GET" else client.post(url, data={})


@pytest.mark.parametrize("profile", PROFILES)
def test_route_permissions(app, world, profile):
    """One profile against every rule; all failures are reported together."""
    w = world
    secrets = _secrets(w)
    client = _client_for(app, w, profile)
    failures = []
    for rule, endpoint, method, args in _rules(app):
        failures += _check(client, w, secrets, profile, rule, endpoint, method, args)
    assert not failures, "\n".join(failures)


def test_matrix_covers_every_area(app):
    endpoints = {endpoint for _, endpoint, _, _ in _rules(app)}
    for area in ("national.", "caisse.", "gestion.", "main.", "demandes.", "traitement.", "tickets.", "news."):
        assert any(e.startswith(area) for e in endpoints), area


def _check(client, w, secrets, profile, rule, endpoint, method, args):
    area = endpoint.split(".")[0]
    allowed = AREA.get(area, {"technicien", "gestionnaire", "agent", "admin_caisse", "admin_national"})
    id_args = [a for a in args if a.endswith("_id")]
    variants = [_foreign_ids(w, endpoint)]
    # Where every object is the profile's own, only the mixed variant is foreign to it.
    if (profile, area) in UNIVERSAL:
        variants = []
    if len(id_args) > 1:
        variants.append({**_foreign_ids(w, endpoint), **_own_container_ids(w)})
    if not id_args:
        variants = [{}]
    failures = []
    for ids in variants:
        url = rule
        for a in args:
            if a in id_args:
                assert a in ids, f"{rule}: seed a real object for <{a}> in this module's world"
            url = url.replace(f"<int:{a}>", str(ids.get(a)))
        url = url.replace("<service>", "contact")  # the demande form of one service
        if ".<any(" in url:  # the export format converter: take csv
            url = url.split(".<")[0] + ".csv"
        resp = _call(client, method, url)
        body = resp.get_data().decode("utf-8", "replace")  # a leaked file is bytes
        where = f"{profile} {method} {url} → {resp.status_code}"
        if profile == "anonymous":
            if not (resp.status_code == 302 and "/connexion" in resp.headers.get("Location", "")):
                failures.append(where)
            continue
        if profile not in allowed and endpoint not in ANY_PROFILE:
            ok = resp.status_code in (403, 404)
        elif id_args:
            ok = resp.status_code in (403, 404)
        else:
            ok = resp.status_code not in (403, 404, 500)
        if not ok:
            failures.append(where)
        if resp.status_code in (403, 404):
            failures += [f"{where} leaks {s!r}" for s in secrets if s in body]
    return failures
