"""Dysfunction tickets (SPEC §5), one blueprint per side:
- ``tickets`` (/tickets): partner users open tickets and follow their structure's;
- ``caisse_tickets`` (/caisse/tickets): the caisse's referent answers, takes,
  resolves or escalates the caisse's tickets;
- ``national_tickets`` (/national/tickets): national support answers and
  resolves escalated tickets.
A ticket outside the user's side (another structure, another caisse, not
escalated) is a 404."""
from flask import Blueprint, render_template, request, url_for
from flask_login import current_user

from ep_web.actions import run
from ep_web.confirm import ask
from ep_web.domain import tickets as domain
from ep_web.domain.textguard import HEALTH_CONFIRM_FIELD, find_health_terms, highlight
from ep_web.htmx import render_page_or_fragment
from ep_web.models import Profile, Ticket, TicketStatus
from ep_web.permissions import profile_required
from ep_web.permissions.tickets import get_screenshot_or_404, get_ticket_or_404
from ep_web.tickets.forms import ActionForm, FilterForm, ReplyForm, TicketForm
from ep_web.transaction import commit

bp = Blueprint("tickets", __name__, url_prefix="/tickets")
caisse_bp = Blueprint("caisse_tickets", __name__, url_prefix="/caisse/tickets")
national_bp = Blueprint("national_tickets", __name__, url_prefix="/national/tickets")

BLUEPRINT_OF = {"partner": "tickets", "caisse": "caisse_tickets", "national": "national_tickets"}

partner_only = profile_required(Profile.TECHNICIEN, Profile.GESTIONNAIRE)
caisse_only = profile_required(Profile.ADMIN_CAISSE)
national_only = profile_required(Profile.ADMIN_NATIONAL)


def _actor():
    return current_user._get_current_object()


def _health_hits(texts: dict[str, str]) -> list:
    """Each text holding health terms, highlighted, for the warning."""
    hits = []
    for label, text in texts.items():
        matches = find_health_terms(text)
        if matches:
            hits.append((label, highlight(text, matches)))
    return hits


# ---------------------------------------------------------------- shared views

def _index(side: str, fetch):
    form = FilterForm(request.args)
    tickets = fetch(form.status_value)
    return render_page_or_fragment("tickets/index.html", "tickets/_results.html", side=side, bp=BLUEPRINT_OF[side],
                                   tickets=tickets, filter_form=form,
                                   caisses=(domain.ticket_caisses(current_user.partenaire_id)
                                            if side == "partner" else []))


def _show(side: str, ticket: Ticket, form: ReplyForm | None = None, status: int = 200, health_hits=None,
          refusal: str | None = None):
    if form is None:
        form = ReplyForm(formdata=None)
    can_resolve = side == "national" and ticket.status == TicketStatus.ESCALADE or (
        side == "caisse" and ticket.status in (TicketStatus.OUVERT, TicketStatus.EN_COURS))
    return render_template(
        "tickets/show.html", side=side, bp=BLUEPRINT_OF[side], ticket=ticket, form=form, refusal=refusal,
        action_form=ActionForm(formdata=None), health_hits=health_hits or [], can_resolve=can_resolve,
        can_reply=ticket.status != TicketStatus.RESOLU,
        can_take=side == "caisse" and ticket.status == TicketStatus.OUVERT,
        can_escalate=side == "caisse" and ticket.status in (TicketStatus.OUVERT, TicketStatus.EN_COURS),
    ), status


def _reply(side: str, ticket_id: int):
    ticket = get_ticket_or_404(ticket_id, side)
    form = ReplyForm()
    resolve = bool(form.resolve.data) and side != "partner"

    def render(status, refusal):
        hits = (_health_hits({"Votre message": form.body.data or ""})
                if HEALTH_CONFIRM_FIELD in form.errors else [])
        return _show(side, ticket, form, status, hits, refusal)

    if side == "partner":
        success = "Votre message est ajouté au ticket : la caisse est prévenue."
    else:
        success = ("La réponse est envoyée : l'auteur et les gestionnaires de la structure sont prévenus par e-mail."
                   + (" Le ticket est résolu." if resolve else ""))
    return run(
        lambda: domain.reply(_actor(), ticket, form.body.data or "",
                             health_confirmed=bool(form.health_confirmed.data), resolve=resolve),
        form=form, render=render, success=success,
        then=url_for(f"{BLUEPRINT_OF[side]}.show", ticket_id=ticket.id, _anchor="fil"),
    )


def _act(side: str, ticket_id: int, operation, success: str):
    ticket = get_ticket_or_404(ticket_id, side)
    return run(lambda: operation(_actor(), ticket), form=ActionForm(),
               render=lambda status, refusal: _show(side, ticket, status=status, refusal=refusal),
               success=success, then=url_for(f"{BLUEPRINT_OF[side]}.show", ticket_id=ticket.id))


def _ask_resolve(side: str, ticket_id: int):
    """Resolving closes the ticket and e-mails the partner: asked first without JS (ep_web/confirm.py)."""
    ticket = get_ticket_or_404(ticket_id, side)
    return ask("Le ticket sera marqué comme résolu et le partenaire prévenu par e-mail.",
               title=f"Marquer le ticket {ticket.reference} comme résolu", button="Marquer comme résolu",
               back=url_for(f"{BLUEPRINT_OF[side]}.show", ticket_id=ticket.id))


def _screenshot(side: str, ticket_id: int, attachment_id: int):
    ticket = get_ticket_or_404(ticket_id, side)
    attachment = get_screenshot_or_404(ticket, attachment_id)
    from ep_web.domain.attachments import check_servable, send_attachment

    check_servable(attachment)  # a file waiting for its scan or infected is not served (nor audited)
    domain.record_screenshot_download(_actor(), ticket, attachment)
    commit()
    return send_attachment(attachment)


# ---------------------------------------------------------------- partner users

@bp.get("")
@partner_only
def index():
    return _index("partner", lambda status: domain.tickets_for_partner(current_user.partenaire_id, status))


def _new_page(form: TicketForm, status: int = 200, health_hits=None, file_lost: bool = False):
    caisses = domain.ticket_caisses(current_user.partenaire_id)
    form.set_caisses(caisses)
    return render_template("tickets/new.html", form=form, caisses=caisses, health_hits=health_hits or [],
                           file_lost=file_lost), status


@bp.get("/nouveau")
@partner_only
def new():
    return _new_page(TicketForm(formdata=None))


@bp.post("/nouveau")
@partner_only
def create():
    form = TicketForm()
    files = [f for f in request.files.getlist("screenshot") if f and f.filename]

    def render(status, refusal):
        hits = (_health_hits({"Description du problème": form.description.data or ""})
                if HEALTH_CONFIRM_FIELD in form.errors else [])
        return _new_page(form, status, hits, file_lost=bool(files) and "screenshot" not in form.errors)

    return run(
        lambda: domain.open_ticket(
            _actor(), caisse_id=form.caisse_id.data, subject=form.subject.data or "",
            description=form.description.data or "", area=form.area.data or "",
            page_detail=form.page_detail.data or "", health_confirmed=bool(form.health_confirmed.data),
            screenshots=files,
        ),
        form=form, render=render,
        success=lambda ticket: (f"Votre signalement est transmis à {ticket.caisse.name} sous la référence "
                                f"{ticket.reference}. Vous serez prévenu(e) par e-mail de chaque réponse."),
        then=lambda ticket: url_for("tickets.show", ticket_id=ticket.id),
    )


@bp.get("/<int:ticket_id>")
@partner_only
def show(ticket_id: int):
    return _show("partner", get_ticket_or_404(ticket_id, "partner"))


@bp.post("/<int:ticket_id>/messages")
@partner_only
def reply(ticket_id: int):
    return _reply("partner", ticket_id)


@bp.get("/<int:ticket_id>/captures/<int:attachment_id>")
@partner_only
def screenshot(ticket_id: int, attachment_id: int):
    return _screenshot("partner", ticket_id, attachment_id)


# ---------------------------------------------------------------- the caisse's referent

@caisse_bp.get("", endpoint="index")
@caisse_only
def caisse_index():
    return _index("caisse", lambda status: domain.tickets_for_caisse(current_user.caisse_id, status))


@caisse_bp.get("/<int:ticket_id>", endpoint="show")
@caisse_only
def caisse_show(ticket_id: int):
    return _show("caisse", get_ticket_or_404(ticket_id, "caisse"))


@caisse_bp.post("/<int:ticket_id>/messages", endpoint="reply")
@caisse_only
def caisse_reply(ticket_id: int):
    return _reply("caisse", ticket_id)


@caisse_bp.post("/<int:ticket_id>/prendre", endpoint="take")
@caisse_only
def caisse_take(ticket_id: int):
    return _act("caisse", ticket_id, domain.take, "Le ticket est pris en charge (en cours).")


@caisse_bp.post("/<int:ticket_id>/escalader", endpoint="escalate")
@caisse_only
def caisse_escalate(ticket_id: int):
    ticket = get_ticket_or_404(ticket_id, "caisse")
    question = ask("Le ticket passe au support national, qui est prévenu par e-mail. "
                   "Vous ne pourrez plus le résoudre vous-même.",
                   title=f"Escalader le ticket {ticket.reference} au support national",
                   button="Escalader au support national", back=url_for("caisse_tickets.show", ticket_id=ticket.id))
    if question is not None:
        return question
    return _act("caisse", ticket_id, domain.escalate,
                "Le ticket est escaladé au support national, qui est prévenu par e-mail.")


@caisse_bp.post("/<int:ticket_id>/resoudre", endpoint="resolve")
@caisse_only
def caisse_resolve(ticket_id: int):
    if (question := _ask_resolve("caisse", ticket_id)) is not None:
        return question
    return _act("caisse", ticket_id, domain.resolve, "Le ticket est résolu : le partenaire est prévenu par e-mail.")


@caisse_bp.get("/<int:ticket_id>/captures/<int:attachment_id>", endpoint="screenshot")
@caisse_only
def caisse_screenshot(ticket_id: int, attachment_id: int):
    return _screenshot("caisse", ticket_id, attachment_id)


# ---------------------------------------------------------------- national support

@national_bp.get("", endpoint="index")
@national_only
def national_index():
    return _index("national", domain.escalated_tickets)


@national_bp.get("/<int:ticket_id>", endpoint="show")
@national_only
def national_show(ticket_id: int):
    return _show("national", get_ticket_or_404(ticket_id, "national"))


@national_bp.post("/<int:ticket_id>/messages", endpoint="reply")
@national_only
def national_reply(ticket_id: int):
    return _reply("national", ticket_id)


@national_bp.post("/<int:ticket_id>/resoudre", endpoint="resolve")
@national_only
def national_resolve(ticket_id: int):
    if (question := _ask_resolve("national", ticket_id)) is not None:
        return question
    return _act("national", ticket_id, domain.resolve, "Le ticket est résolu : le partenaire est prévenu par e-mail.")


@national_bp.get("/<int:ticket_id>/captures/<int:attachment_id>", endpoint="screenshot")
@national_only
def national_screenshot(ticket_id: int, attachment_id: int):
    return _screenshot("national", ticket_id, attachment_id)
