"""Dysfunction tickets (SPEC §5, §8): the rules, who sees what, the e-mails.

Decision tested here: partner users see every ticket of their own structure
(colleagues' included), never another structure's; a caisse sees only its own
tickets; national support sees only escalated ones."""
import re

import pytest

from ep_web.domain import tickets as domain
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.models import AccountStatus, Ticket, TicketStatus
from ep_web.transaction import commit

NIR = "2 69 05 49 588 157 80"


@pytest.fixture
def world(make):
    w = make.world()
    w.colleague = make.technicien(w.partenaire)
    w.inactive_gestionnaire = make.gestionnaire(w.partenaire, status=AccountStatus.INACTIVE)
    return w


def _open(w, author=None, caisse=None, subject="Le bouton Envoyer ne répond pas", **kw):
    data = dict(description="Après avoir rempli le formulaire, rien ne se passe.", area="demandes",
                page_detail="formulaire de rendez-vous")
    data.update(kw)
    author = author or w.technicien
    t = domain.open_ticket(author, caisse_id=(caisse or w.caisse).id, subject=subject, **data)
    commit()
    return t


# ---------------------------------------------------------------- opening

def test_open_ticket(world, clock, outbox):
    t = _open(world)
    assert re.fullmatch(r"T-2026-\d{5}", t.reference)
    assert t.status == TicketStatus.OUVERT and t.partenaire_id == world.partenaire.id
    assert t.page == "Demandes à la caisse (signalement, dossier, document, rendez-vous) — formulaire de rendez-vous"
    mails = outbox(world.caisse.referent_email)
    assert len(mails) == 1
    assert t.reference in mails[0].subject and f"http://ep.test/caisse/tickets/{t.id}" in mails[0].body_text
    assert "rien ne se passe" not in mails[0].body_text + mails[0].body_html  # reference and link only
    assert _open(world, subject="Autre").reference != t.reference


def test_gestionnaire_may_open_too_but_not_caisse_users(world):
    assert _open(world, author=world.gestionnaire).author_id == world.gestionnaire.id
    for actor in (world.agent, world.admin, world.national):
        with pytest.raises(NotAllowed):
            domain.open_ticket(actor, caisse_id=world.caisse.id, subject="x", description="y", area="autre")


def test_only_a_caisse_in_force(world, make):
    with pytest.raises(DomainError) as exc:
        _open(world, caisse=world.other_caisse)
    assert exc.value.field == "caisse_id"
    world.partenaire.conventions[0].state = "terminee"
    db.session.commit()
    with pytest.raises(DomainError):
        _open(world)


@pytest.mark.parametrize("field,kw", [
    ("subject", {"subject": f"Dossier {NIR}"}),
    ("description", {"description": f"Pour la personne {NIR} rien ne marche"}),
    ("page_detail", {"page_detail": "fiche 269054958815780"}),
])
def test_nir_guard_on_every_ticket_text(world, field, kw):
    with pytest.raises(DomainError) as exc:
        _open(world, **kw)
    assert exc.value.field == field and "NIR" in exc.value.message
    assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 0


def test_health_warning_then_confirmation(world):
    with pytest.raises(DomainError) as exc:
        _open(world, description="La page plante quand je décris son diabète.")
    assert exc.value.field == "health_confirmed" and "« diabète »" in exc.value.message
    t = _open(world, description="La page plante quand je décris son diabète.", health_confirmed=True)
    assert t.health_confirmed is True


# ---------------------------------------------------------------- answering, escalating, resolving

def test_caisse_answer_emails_author_and_active_gestionnaires(world, outbox):
    t = _open(world)
    domain.reply(world.admin, t, "Merci, nous regardons. Videz le cache du navigateur.")
    commit()
    assert t.status == TicketStatus.EN_COURS
    to = {m.to for m in outbox() if m.template == "ticket_answered"}
    assert to == {world.technicien.email, world.gestionnaire.email, world.gestionnaire2.email}
    assert world.inactive_gestionnaire.email not in to and world.colleague.email not in to
    mail = outbox(world.technicien.email)[0]
    assert t.reference in mail.subject and f"http://ep.test/tickets/{t.id}" in mail.body_text
    assert "Videz le cache" not in mail.body_text + mail.body_html and t.subject not in mail.body_text


def test_answers_pass_the_nir_guard_and_health_warning(world):
    t = _open(world)
    for actor in (world.admin, world.technicien):
        with pytest.raises(DomainError) as exc:
            domain.reply(actor, t, f"Le NIR {NIR} est refusé")
        assert exc.value.field == "body"
    with pytest.raises(DomainError) as exc:
        domain.reply(world.admin, t, "Son cancer n'a rien à faire ici")
    assert exc.value.field == "health_confirmed"
    domain.reply(world.admin, t, "Son cancer n'a rien à faire ici", health_confirmed=True)


def test_escalation_to_national(world, make, outbox):
    national2 = make.admin_national()
    t = _open(world)
    with pytest.raises(NotAllowed):
        domain.reply(world.national, t, "Pas encore à moi")  # not escalated: invisible to national
    with pytest.raises(NotAllowed):
        domain.escalate(world.other_admin, t)
    domain.escalate(world.admin, t)
    commit()
    assert t.status == TicketStatus.ESCALADE and t.escalated_at is not None
    assert {m.to for m in outbox() if m.template == "ticket_escalated"} == {world.national.email, national2.email}
    with pytest.raises(DomainError):
        domain.resolve(world.admin, t)  # national's now
    with pytest.raises(DomainError):
        domain.reply(world.admin, t, "Je clos", resolve=True)
    domain.reply(world.admin, t, "Pour information, transmis au national.")  # the caisse may still write
    domain.reply(world.national, t, "Corrigé dans la version de ce soir.", resolve=True)
    commit()
    assert t.status == TicketStatus.RESOLU and t.resolved_at is not None
    national_answer = [m for m in outbox(world.technicien.email) if "résolu" in m.subject][-1]
    assert "support national" in national_answer.body_text.lower()
    with pytest.raises(DomainError):
        domain.reply(world.technicien, t, "Encore un souci")
    with pytest.raises(DomainError):
        domain.escalate(world.admin, t)


def test_partner_reply_notifies_the_caisse_then_national(world, outbox):
    t = _open(world)
    domain.reply(world.colleague, t, "Même chose chez moi.")  # a colleague of the structure
    commit()
    assert [m.template for m in outbox(world.caisse.referent_email)] == ["ticket_opened", "ticket_partner_reply"]
    domain.escalate(world.admin, t)
    domain.reply(world.technicien, t, "Toujours en panne.")
    commit()
    assert [m.template for m in outbox(world.national.email)] == ["ticket_escalated", "ticket_partner_reply"]
    with pytest.raises(NotAllowed):
        domain.reply(world.technicien, t, "Je résous", resolve=True)
    with pytest.raises(NotAllowed):
        domain.reply(world.other_technicien, t, "Intrus")


def test_take_and_resolve_by_the_caisse(world, outbox):
    t = _open(world)
    with pytest.raises(NotAllowed):
        domain.take(world.technicien, t)
    domain.take(world.admin, t)
    assert t.status == TicketStatus.EN_COURS
    with pytest.raises(DomainError):
        domain.take(world.admin, t)
    with pytest.raises(NotAllowed):
        domain.resolve(world.national, t)
    domain.resolve(world.admin, t)
    commit()
    assert t.status == TicketStatus.RESOLU
    assert {m.to for m in outbox() if m.template == "ticket_answered"} >= {world.technicien.email}


# ---------------------------------------------------------------- who sees what (routes)

@pytest.fixture
def tickets(world, make):
    """A ticket of each structure, and an escalated one of the other caisse."""
    t = _open(world, subject="Ticket de la structure A")
    other = _open(world, author=world.other_technicien, caisse=world.other_caisse, subject="Ticket de la structure B")
    escalated = _open(world, author=world.other_gestionnaire, caisse=world.other_caisse, subject="Escaladé de B")
    domain.escalate(world.other_admin, escalated)
    commit()
    return t, other, escalated


def test_partner_side_isolation(app, world, tickets, login):
    t, other, escalated = tickets
    for who in ("technicien", "colleague", "gestionnaire"):
        c = login(getattr(world, who), c=app.test_client())
        page = c.get("/tickets").get_data(as_text=True)
        assert "Ticket de la structure A" in page and "Ticket de la structure B" not in page
        assert c.get(f"/tickets/{t.id}").status_code == 200  # colleagues' tickets too: a documented choice
        for foreign in (other, escalated):
            resp = c.get(f"/tickets/{foreign.id}")
            assert resp.status_code == 404 and foreign.subject not in resp.get_data(as_text=True)
            assert c.post(f"/tickets/{foreign.id}/messages", data={"body": "intrus"}).status_code == 404
        assert c.get("/caisse/tickets").status_code == 403 and c.get("/national/tickets").status_code == 403


def test_caisse_side_isolation(app, world, tickets, login):
    t, other, escalated = tickets
    c = login(world.admin)
    page = c.get("/caisse/tickets").get_data(as_text=True)
    assert "Ticket de la structure A" in page and "structure B" not in page and "Escaladé de B" not in page
    assert c.get(f"/caisse/tickets/{t.id}").status_code == 200
    for foreign in (other, escalated):
        assert c.get(f"/caisse/tickets/{foreign.id}").status_code == 404
        for action in ("messages", "prendre", "escalader", "resoudre"):
            assert c.post(f"/caisse/tickets/{foreign.id}/{action}", data={"body": "x"}).status_code == 404
    assert db.session.get(Ticket, other.id).status == TicketStatus.OUVERT
    assert c.get(f"/tickets/{t.id}").status_code == 403
    agent = login(world.agent, c=app.test_client())
    assert agent.get("/caisse/tickets").status_code == 403
    assert agent.get(f"/caisse/tickets/{t.id}").status_code == 403


def test_national_sees_only_escalated(app, world, tickets, login):
    t, other, escalated = tickets
    c = login(world.national)
    page = c.get("/national/tickets").get_data(as_text=True)
    assert "Escaladé de B" in page and "structure A" not in page and "Ticket de la structure B" not in page
    assert c.get(f"/national/tickets/{escalated.id}").status_code == 200
    for foreign in (t, other):
        assert c.get(f"/national/tickets/{foreign.id}").status_code == 404
        assert c.post(f"/national/tickets/{foreign.id}/resoudre").status_code == 404
    assert c.post(f"/national/tickets/{escalated.id}/messages",
                  data={"body": "Corrigé", "resolve": "y"}).status_code == 303
    assert db.session.get(Ticket, escalated.id).status == TicketStatus.RESOLU


def test_status_filter(app, world, tickets, login):
    t, _, _ = tickets
    second = _open(world, subject="Deuxième problème")
    domain.take(world.admin, second)
    commit()
    c = login(world.admin)
    page = c.get("/caisse/tickets?status=en_cours").get_data(as_text=True)
    assert "Deuxième problème" in page and "Ticket de la structure A" not in page
    fragment = c.get("/caisse/tickets?status=ouvert", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith("<div id=\"tickets-results\"") and "Ticket de la structure A" in fragment
    assert "<html" not in fragment


# ---------------------------------------------------------------- forms

def test_create_form_health_warning_keeps_input(app, world, login):
    c = login(world.technicien)
    page = c.get("/tickets/nouveau").get_data(as_text=True)
    assert world.caisse.name in page and world.other_caisse.name not in page
    data = {"caisse_id": str(world.caisse.id), "subject": "Page blanche", "area": "accueil", "page_detail": "",
            "description": "Impossible de décrire sa grossesse dans la demande."}
    resp = c.post("/tickets/nouveau", data=data)
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert "<mark>grossesse</mark>" in body and 'name="health_confirmed"' in body
    assert 'value="Page blanche"' in body and "Impossible de décrire sa" in body
    resp = c.post("/tickets/nouveau", data={**data, "health_confirmed": "y"})
    assert resp.status_code == 303
    t = db.session.scalars(db.select(Ticket)).one()
    assert resp.headers["Location"].endswith(f"/tickets/{t.id}")
    assert t.health_confirmed


def test_create_form_nir_refused(app, world, login):
    c = login(world.gestionnaire)
    resp = c.post("/tickets/nouveau", data={"caisse_id": str(world.caisse.id), "subject": "Souci",
                                            "area": "autre", "description": f"Le {NIR} ne passe pas"})
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert "numéro de sécurité sociale (NIR)" in body and 'aria-describedby="description-error"' in body
    assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 0
    resp = c.post("/tickets/nouveau", data={"caisse_id": str(world.other_caisse.id), "subject": "Souci",
                                            "area": "autre", "description": "Rien"})
    assert resp.status_code == 422


def test_thread_through_routes(app, world, login, outbox):
    t = _open(world)
    admin = login(world.admin)
    resp = admin.post(f"/caisse/tickets/{t.id}/messages", data={"body": "Pouvez-vous préciser le navigateur ?"})
    assert resp.status_code == 303
    tech = login(world.technicien, c=app.test_client())
    page = tech.get(f"/tickets/{t.id}").get_data(as_text=True)
    assert "Pouvez-vous préciser le navigateur ?" in page and "En cours" in page
    assert tech.post(f"/tickets/{t.id}/messages", data={"body": "Firefox 140"}).status_code == 303
    resp = admin.post(f"/caisse/tickets/{t.id}/messages", data={"body": f"NIR {NIR}"})
    assert resp.status_code == 422 and "NIR" in resp.get_data(as_text=True)
    assert admin.post(f"/caisse/tickets/{t.id}/escalader", data={"confirmed": "1"}).status_code == 303
    assert db.session.get(Ticket, t.id).status == TicketStatus.ESCALADE
    assert "Escaladé" in tech.get("/tickets").get_data(as_text=True)


# ---------------------------------------------------------------- screenshot

def _png() -> bytes:
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"\x00\xff\x00\x00"  # one red pixel
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def uploads(app, tmp_path):
    folder = tmp_path / "uploads"
    app.config.update(UPLOAD_DIR=str(folder), CLAMD_SOCKET="", CLAMD_ADDRESS="")
    return folder


def _form(w, **extra):
    data = {"caisse_id": str(w.caisse.id), "subject": "Affichage cassé", "area": "accueil",
            "description": "La page d'accueil s'affiche sans mise en forme."}
    data.update(extra)
    return data


def test_screenshot_png_stored_and_downloaded_by_those_who_see_the_ticket(app, world, login, uploads):
    from io import BytesIO

    from ep_web.models import AuditEvent

    tech = login(world.technicien)
    resp = tech.post("/tickets/nouveau", data=_form(world, screenshot=(BytesIO(_png()), "capture.png")),
                     content_type="multipart/form-data")
    assert resp.status_code == 303
    t = db.session.scalars(db.select(Ticket)).one()
    (shot,) = t.attachments
    assert shot.content_type == "image/png" and shot.original_name == "capture.png"
    assert (uploads / shot.stored_name).is_file()
    page = tech.get(f"/tickets/{t.id}").get_data(as_text=True)
    assert f"/tickets/{t.id}/captures/{shot.id}" in page

    download = tech.get(f"/tickets/{t.id}/captures/{shot.id}")
    assert download.status_code == 200 and download.data == _png()
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert db.session.scalar(db.select(db.func.count(AuditEvent.id)).where(
        AuditEvent.action == "document_downloaded", AuditEvent.actor_id == world.technicien.id)) == 1

    admin = login(world.admin, c=app.test_client())
    assert admin.get(f"/caisse/tickets/{t.id}/captures/{shot.id}").status_code == 200
    for account, url in ((world.other_technicien, f"/tickets/{t.id}/captures/{shot.id}"),
                         (world.other_admin, f"/caisse/tickets/{t.id}/captures/{shot.id}"),
                         (world.national, f"/national/tickets/{t.id}/captures/{shot.id}")):
        c = login(account, c=app.test_client())
        assert c.get(url).status_code == 404, url
    # Once escalated, national support sees it.
    domain.escalate(world.admin, t)
    commit()
    national = login(world.national, c=app.test_client())
    assert national.get(f"/national/tickets/{t.id}/captures/{shot.id}").status_code == 200
    # Another ticket's id in the URL does not give access to this file.
    other = _open(world, subject="Second")
    assert tech.get(f"/tickets/{other.id}/captures/{shot.id}").status_code == 404


def test_screenshot_checked_like_attachments(app, world, login, uploads):
    from io import BytesIO

    tech = login(world.technicien)
    pdf = b"%PDF-1.4\n%fake\n"
    resp = tech.post("/tickets/nouveau", data=_form(world, screenshot=(BytesIO(pdf), "capture.png")),
                     content_type="multipart/form-data")
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert "format non accepté (JPEG ou PNG uniquement)" in body and 'aria-describedby="screenshot-error"' in body
    assert 'value="Affichage cassé"' in body  # the typed text is kept
    assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 0
    assert not uploads.exists() or not any(uploads.iterdir())
    two = [(BytesIO(_png()), "a.png"), (BytesIO(_png()), "b.png")]
    resp = tech.post("/tickets/nouveau", data=_form(world, screenshot=two), content_type="multipart/form-data")
    assert resp.status_code == 422 and "une seule capture" in resp.get_data(as_text=True)


def test_escalation_without_javascript_asks_for_confirmation_first(app, world, login):
    """One click without the JS dialog's flag does not escalate: a page asks,
    with the same form re-posted and a way back to the ticket."""
    t = _open(world)
    admin = login(world.admin)
    resp = admin.post(f"/caisse/tickets/{t.id}/escalader")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" in page and t.reference in page
    assert f'action="/caisse/tickets/{t.id}/escalader"' in page and 'name="confirmed" value="1"' in page
    assert f'href="/caisse/tickets/{t.id}"' in page and "Annuler" in page
    db.session.expire_all()
    assert db.session.get(Ticket, t.id).status == TicketStatus.OUVERT
    assert admin.post(f"/caisse/tickets/{t.id}/escalader", data={"confirmed": "1"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Ticket, t.id).status == TicketStatus.ESCALADE
