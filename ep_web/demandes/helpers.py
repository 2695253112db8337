"""Template helpers shared by the partner pages and the caisse queue: the
demande partials (templates/demandes/_identity.html, _details.html, _timeline.html,
_thread.html, _attachments.html) call them, whichever side includes them."""
from flask import Blueprint

from ep_web.domain.demandes import (
    CIVILITES,
    DIFFICULTY_KINDS,
    DOCUMENT_KINDS,
    ETUDE_KINDS,
    EVENT_LABELS,
    RDV_CHANNELS,
    URGENCY_REASONS,
)
from ep_web.models import OUTCOME_LABELS, SERVICE_LABELS, Outcome, Service


def service_label(value: str) -> str:
    try:
        return SERVICE_LABELS[Service(value)]
    except ValueError:
        return value


def event_label(event) -> str:
    label = EVENT_LABELS.get(event.kind, event.kind)
    outcome = (event.details or {}).get("outcome")
    if event.kind == "closed" and outcome:
        try:
            label += f" — {OUTCOME_LABELS[Outcome(outcome)]}"
        except ValueError:
            pass
    if event.kind == "handed_over":
        from ep_web.domain.accounts import full_name_of

        details = event.details or {}
        label = (f"Passation : {full_name_of(details.get('from_id'))} part, "
                 f"{full_name_of(details.get('to_id'))} suit désormais la demande")
    files = (event.details or {}).get("files")
    if files:
        label += f" ({files} pièce{'s' if files > 1 else ''} jointe{'s' if files > 1 else ''})"
    return label


def _iso_date(value: str) -> str:
    try:
        y, m, d = value.split("-")
        return f"{d}/{m}/{y}"
    except ValueError:
        return value


def demande_details(demande) -> list[tuple[str, str]]:
    """The service fields of a demande as (label, value) pairs, in form order
    (the message is shown apart)."""
    d = demande.details or {}
    rows: list[tuple[str, str]] = []
    service = demande.service
    if service == Service.CONTACT.value:
        rows.append(("Objet", d.get("subject", "")))
    elif service == Service.ETUDE_DOSSIER.value:
        rows.append(("Type de dossier", ETUDE_KINDS.get(d.get("kind"), d.get("kind", ""))))
    elif service == Service.SUIVI_AME.value:
        rows.append(("Date de dépôt du dossier AME", _iso_date(d.get("filed_on", ""))))
    elif service == Service.SIGNALEMENT.value:
        kinds = [DIFFICULTY_KINDS.get(k, k) for k in d.get("difficulty_kinds", [])]
        rows.append(("Difficultés", ", ".join(kinds)))
        rows.append(("Accord de la personne pour être contactée", "Oui" if demande.consent else "Non"))
        if demande.urgent:  # the urgency reason itself is in _identity.html
            if d.get("urgency_detail"):
                rows.append(("Précisions sur l'urgence", d["urgency_detail"]))
    elif service == Service.RENDEZ_VOUS.value:
        rows.append(("Motif", d.get("reason", "")))
        rows.append(("Créneaux souhaités", d.get("slots", "")))
        rows.append(("Mode de rendez-vous", RDV_CHANNELS.get(d.get("channel"), d.get("channel", ""))))
    elif service == Service.DOCUMENT.value:
        rows.append(("Document demandé", DOCUMENT_KINDS.get(d.get("document_kind"), d.get("document_kind", ""))))
        if d.get("document_other"):
            rows.append(("Précision", d["document_other"]))
    return [(label, value) for label, value in rows if value]


def file_size(size: int | None) -> str:
    size = size or 0
    if size < 1024:
        return f"{size} o"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} Ko"
    return f"{size / (1024 * 1024):.1f} Mo".replace(".", ",")


def register(bp: Blueprint) -> None:
    """Available in every template once the blueprint is registered."""
    bp.add_app_template_global(demande_details, "demande_details")
    bp.add_app_template_global(service_label, "service_label")
    bp.add_app_template_global(event_label, "demande_event_label")
    bp.add_app_template_global(CIVILITES, "CIVILITES")
    bp.add_app_template_global(URGENCY_REASONS, "URGENCY_REASONS")
    bp.add_app_template_global(list(Service), "all_services")
    bp.add_app_template_filter(file_size, "file_size")
