"""Demandes: a partner's requests to a caisse about one person (SPEC §4).

Every text the partner types goes through the NIR guard; free texts through the
health warning. Status changes and replies e-mail the author a reference and a
link only — never the person's identity (SPEC §8)."""
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import and_, func, literal, or_, select

from ep_web.clock import now, today
from ep_web.domain import audit
from ep_web.domain import notifications as notif
from ep_web.domain.access import conventions_in_force
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.domain.names import check_person_name
from ep_web.domain.textguard import check_health, check_texts
from ep_web.extensions import core_read, db
from ep_web.inputs import coerce_id
from ep_web.models import (
    GENERAL_OUTCOMES,
    OPEN_STATUSES,
    SIGNALEMENT_OUTCOMES,
    Account,
    AccountStatus,
    Caisse,
    Convention,
    Demande,
    DemandeCounter,
    DemandeEvent,
    DemandeMessage,
    DemandeStatus,
    NotificationKind,
    Outcome,
    Partenaire,
    Profile,
    Service,
)
from ep_web.permissions.demandes import can_view_demande

# ---------------------------------------------------------------- vocabularies (SPEC §4)

ETUDE_KINDS = {
    "puma": "PUMa (protection universelle maladie)",
    "css": "Complémentaire santé solidaire",
    "ame": "Aide médicale de l'État (AME)",
    "affiliation": "Affiliation",
    "maj_droits": "Mise à jour des droits",
    "autre": "Autre",
}
DIFFICULTY_KINDS = {
    "droits": "Accès aux droits",
    "soins": "Accès aux soins",
    "renoncement": "Renoncement aux soins",
    "prevention": "Prévention",
}
URGENCY_REASONS = {
    "soins_imminents": "Soins imminents",
    "droits_bloques": "Droits bloqués",
}
RDV_CHANNELS = {"guichet": "Au guichet", "telephone": "Par téléphone", "visio": "En visioconférence"}
DOCUMENT_KINDS = {
    "attestation_droits": "Attestation de droits",
    "ceam_provisoire": "Certificat provisoire de remplacement de la CEAM",
    "formulaire_vitale": "Formulaire carte Vitale (perte / vol)",
    "notification_droits": "Notification de droits / justificatif de prestations",
    "bon_mtdents": "Bon M'T dents",
    "bon_vaccination": "Bon de vaccination ou de dépistage",
    "invitation_prevention": "Invitation à un examen de prévention",
    "autre": "Autre document",
}
CIVILITES = {"Mme": "Madame", "M.": "Monsieur"}

# Free-text fields per service: checked for NIR and health terms.
FREE_TEXT_FIELDS = {
    Service.CONTACT.value: ("subject", "message"),
    Service.ETUDE_DOSSIER.value: ("message",),
    Service.SUIVI_AME.value: ("message",),
    Service.SIGNALEMENT.value: ("message", "urgency_detail"),
    Service.RENDEZ_VOUS.value: ("reason", "slots", "message"),
    Service.DOCUMENT.value: ("document_other", "message"),
}


def _valid_departement(dep: str) -> bool:
    dep = dep.upper()
    if dep in ("2A", "2B"):
        return True
    if len(dep) == 2 and dep.isdigit():
        return 1 <= int(dep) <= 95 and dep != "20"
    return len(dep) == 3 and dep.isdigit() and 971 <= int(dep) <= 976


def fold_name(*parts: str) -> str:
    """Lower case, no accents, single spaces: the search key of a person's name (SPEC §4 history, duplicates)."""
    text = " ".join(p.strip() for p in parts if p)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.lower().replace("-", " ").replace("'", " ").split())


# ---------------------------------------------------------------- where a technicien may send

def caisses_for(partenaire_id: int) -> list[Convention]:
    """The conventions in force of the structure, by caisse name (SPEC §4)."""
    return sorted(conventions_in_force(partenaire_id), key=lambda c: c.caisse.name)


def default_caisse(partenaire_id: int, departement: str) -> Caisse | None:
    """SPEC §4: default to the caisse of the person's département among the
    structure's conventions in force."""
    dep = (departement or "").strip().upper()
    for conv in caisses_for(partenaire_id):
        if dep and dep in conv.caisse.departement_list:
            return conv.caisse
    return None


def convention_for(partenaire_id: int, caisse_id: int) -> Convention | None:
    """SPEC §4: the convention in force between the structure and that caisse, if any."""
    for conv in conventions_in_force(partenaire_id):
        if conv.caisse_id == caisse_id:
            return conv
    return None


# ---------------------------------------------------------------- creation

@dataclass
class DemandeInput:
    service: str
    caisse_id: int | None
    civilite: str = ""
    nom: str = ""
    prenom: str = ""
    date_naissance: date | None = None
    departement: str = ""
    details: dict = field(default_factory=dict)  # service fields, see FREE_TEXT_FIELDS and validate_details
    consent: bool = False
    urgent: bool = False
    health_confirmed: bool = False
    duplicate_confirmed: bool = False


def _require_technicien(actor: Account) -> None:
    if actor.profile != Profile.TECHNICIEN or actor.status != AccountStatus.ACTIVE:
        raise NotAllowed("Seuls les techniciens des structures partenaires font des demandes.")


def _text(details: dict, key: str, *, required: str | None = None, max_len: int = 4000) -> str:
    value = (details.get(key) or "").strip()
    if required and not value:
        raise DomainError(required, key)
    if len(value) > max_len:
        raise DomainError(f"{max_len} caractères au plus.", key)
    return value


def _choice(details: dict, key: str, allowed: dict, message: str) -> str:
    value = (details.get(key) or "").strip()
    if value not in allowed:
        raise DomainError(message, key)
    return value


def validate_details(service: str, details: dict, *, urgent: bool, consent: bool) -> dict:
    """The service-specific fields of SPEC §4, cleaned; raises on the first error."""
    out: dict = {}
    if service == Service.CONTACT.value:
        out["subject"] = _text(details, "subject", required="Indiquez l'objet de votre message.", max_len=200)
        out["message"] = _text(details, "message", required="Écrivez votre message.")
    elif service == Service.ETUDE_DOSSIER.value:
        out["kind"] = _choice(details, "kind", ETUDE_KINDS, "Choisissez le type de dossier à étudier.")
        out["message"] = _text(details, "message", required="Décrivez la situation et ce que vous demandez.")
    elif service == Service.SUIVI_AME.value:
        filed = details.get("filed_on")
        if not isinstance(filed, date):
            raise DomainError("Indiquez la date de dépôt du dossier AME (jj/mm/aaaa).", "filed_on")
        if filed > today():
            raise DomainError("La date de dépôt ne peut pas être dans le futur.", "filed_on")
        out["filed_on"] = filed.isoformat()
        out["message"] = _text(details, "message")
    elif service == Service.SIGNALEMENT.value:
        kinds = [k for k in details.get("difficulty_kinds") or [] if k in DIFFICULTY_KINDS]
        if not kinds:
            raise DomainError("Cochez au moins un type de difficulté.", "difficulty_kinds")
        out["difficulty_kinds"] = kinds
        out["message"] = _text(details, "message", required="Décrivez la situation de la personne.")
        if not consent:
            raise DomainError("La personne doit avoir accepté d'être contactée par la caisse : cochez la case "
                              "pour le confirmer.", "consent")
        if urgent:
            out["urgency_reason"] = _choice(details, "urgency_reason", URGENCY_REASONS,
                                            "Indiquez pourquoi la situation est urgente.")
            out["urgency_detail"] = _text(details, "urgency_detail", max_len=1000)
    elif service == Service.RENDEZ_VOUS.value:
        out["reason"] = _text(details, "reason", required="Indiquez le motif du rendez-vous.", max_len=1000)
        out["slots"] = _text(details, "slots", required="Indiquez les créneaux qui conviennent à la personne.",
                             max_len=500)
        out["channel"] = _choice(details, "channel", RDV_CHANNELS, "Choisissez le mode de rendez-vous.")
        out["message"] = _text(details, "message")
    elif service == Service.DOCUMENT.value:
        out["document_kind"] = _choice(details, "document_kind", DOCUMENT_KINDS, "Choisissez le document demandé.")
        out["document_other"] = _text(details, "document_other", max_len=200,
                                      required="Précisez le document demandé." if out["document_kind"] == "autre"
                                      else None)
        out["message"] = _text(details, "message")
    else:
        raise DomainError("Service inconnu.", "service")
    return out


def check_identity(data: DemandeInput) -> dict:
    """The person's identity (SPEC §4): civilité, nom, prénom, date de naissance,
    département de résidence — never the NIR."""
    civilite = (data.civilite or "").strip()
    if civilite not in CIVILITES:
        raise DomainError("Choisissez la civilité de la personne.", "civilite")
    nom = (data.nom or "").strip()
    prenom = (data.prenom or "").strip()
    if not nom:
        raise DomainError("Indiquez le nom de la personne.", "nom")
    if not prenom:
        raise DomainError("Indiquez le prénom de la personne.", "prenom")
    for key, value in (("nom", nom), ("prenom", prenom)):
        if len(value) > 100:
            raise DomainError("100 caractères au plus.", key)
    check_texts({"nom": nom, "prenom": prenom})
    nom, prenom = check_person_name(nom, "nom"), check_person_name(prenom, "prenom")
    born = data.date_naissance
    if not isinstance(born, date):
        raise DomainError("Indiquez la date de naissance (jj/mm/aaaa).", "date_naissance")
    if born > today() or born.year < 1900:
        raise DomainError("Date de naissance invraisemblable : vérifiez-la.", "date_naissance")
    dep = (data.departement or "").strip().upper()
    if not _valid_departement(dep):
        raise DomainError("Département invalide. Exemples : 74, 2A, 971.", "departement")
    return {"civilite": civilite, "nom": nom, "prenom": prenom, "date_naissance": born, "departement": dep}


def find_duplicates(caisse_id: int, service: str, nom: str, prenom: str, born: date,
                    partenaire_id: int | None = None) -> list[Demande]:
    """SPEC §4: an open demande for the same person (nom, prénom, date de
    naissance) and the same service at the same caisse — among the author's
    own structure's demandes: another structure's demandes are never revealed
    to a partner (SPEC §8); the caisse sees both in its queue."""
    q = select(Demande).where(
        Demande.caisse_id == caisse_id,
        Demande.service == service,
        Demande.nom_search == fold_name(nom, prenom),
        Demande.date_naissance == born,
        Demande.status.in_(OPEN_STATUSES),
    )
    if partenaire_id is not None:
        q = q.where(Demande.partenaire_id == partenaire_id)
    return list(db.session.scalars(q.order_by(Demande.created_at.desc()).limit(5)))


def next_reference(prefix: str = "EP") -> str:
    """EP-2026-000123: a per-year counter (SPEC §4 numbered reference), taken in
    one statement that inserts the year's row or increments it and returns the
    value: two demandes created at once never get the same number, even for the
    first of a year (an UPDATE-then-INSERT would let both insert and one fail).
    The row stays locked until the demande's transaction ends, so numbers are
    given in commit order and a rolled back demande gives its number back."""
    year = today().year
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(DemandeCounter).values(year=year, value=1)
    stmt = stmt.on_conflict_do_update(index_elements=[DemandeCounter.year],
                                      set_={"value": DemandeCounter.value + 1}).returning(DemandeCounter.value)
    value = db.session.execute(stmt).scalar_one()
    return f"{prefix}-{year}-{value:06d}"


def create_demande(actor: Account, data: DemandeInput, prepared_files=()) -> Demande:
    """Create a demande (SPEC §4): to a caisse holding a convention in force with
    the structure, for a service that convention enables; identity and every
    typed text through the NIR guard; free texts through the health warning;
    a signalement needs the person's consent; a possible duplicate must be
    confirmed. ``prepared_files`` come from attachments.validate_uploads."""
    _require_technicien(actor)
    caisse_id = coerce_id(data.caisse_id)
    if not caisse_id:
        raise DomainError("Choisissez la caisse destinataire.", "caisse_id")
    conv = convention_for(actor.partenaire_id, caisse_id)
    if conv is None:
        raise DomainError("Votre structure n'a pas de convention en cours avec cette caisse.", "caisse_id")
    if data.service not in Service._value2member_map_:
        raise DomainError("Choisissez un service.", "service")
    if not conv.enables(data.service):
        raise DomainError("Ce service n'est pas ouvert à votre structure par cette caisse.", "service")
    identity = check_identity(data)
    details = validate_details(data.service, data.details, urgent=data.urgent, consent=data.consent)
    free = {k: details.get(k) for k in FREE_TEXT_FIELDS[data.service] if isinstance(details.get(k), str)}
    check_texts(free)
    check_health(free, data.health_confirmed)
    if not data.duplicate_confirmed:
        dups = find_duplicates(conv.caisse_id, data.service, identity["nom"], identity["prenom"],
                               identity["date_naissance"], partenaire_id=actor.partenaire_id)
        if dups:
            refs = ", ".join(d.reference for d in dups)
            raise DomainError(
                f"Une demande du même type est déjà en cours pour cette personne auprès de cette caisse ({refs}). "
                "Consultez-la, ou cochez la case pour confirmer qu'il ne s'agit pas d'un doublon.",
                "duplicate_confirmed",
            )
    created = now()
    is_signalement = data.service == Service.SIGNALEMENT.value
    demande = Demande(
        reference=next_reference(),
        service=data.service,
        caisse_id=conv.caisse_id,
        partenaire_id=actor.partenaire_id,
        author_id=actor.id,
        status=DemandeStatus.TRANSMISE,
        nom_search=fold_name(identity["nom"], identity["prenom"]),
        details={k: v for k, v in details.items() if k != "message"},
        message=details.get("message", ""),
        health_confirmed=bool(data.health_confirmed),
        consent=bool(data.consent) if is_signalement else False,
        urgent=bool(data.urgent) if is_signalement else False,
        urgency_reason=details.get("urgency_reason", ""),
        duplicate_confirmed=bool(data.duplicate_confirmed),
        created_at=created,
        updated_at=created,
        due_at=created + timedelta(hours=current_app.config["SIGNALEMENT_SLA_HOURS"]) if is_signalement else None,
        **identity,
    )
    db.session.add(demande)
    db.session.flush()
    _store_all(prepared_files, actor, demande)
    _event(demande, actor, "created", files=len(prepared_files))
    notif.add_follower(demande, actor)  # SPEC §6: the author follows their own demande
    return demande


def _store_all(prepared_files, actor: Account, demande: Demande, **kw) -> None:
    if not prepared_files:
        return
    from ep_web.domain.attachments import store

    for prepared in prepared_files:
        store(prepared, uploader=actor, demande=demande, **kw)


# ---------------------------------------------------------------- visibility

def visible_caisse_ids(partenaire_id: int) -> list[int]:
    """SPEC §3: once a convention has ended, the structure no longer sees that
    caisse's demandes."""
    return [c.caisse_id for c in conventions_in_force(partenaire_id)]


# ---------------------------------------------------------------- lifecycle

def _event(demande: Demande, actor: Account | None, kind: str, **details) -> DemandeEvent:
    event = demande.record(kind, actor.id if actor else None, now(), **details)
    db.session.flush()
    return event


EVENT_LABELS = {
    "created": "Demande transmise",
    "taken": "Prise en charge par la caisse",
    "complement_requested": "Complément demandé par la caisse",
    "complement_received": "Complément reçu",
    "message_partner": "Message de la structure",
    "message_caisse": "Réponse de la caisse",
    "document_attached": "Document déposé par la caisse",
    "document_by_post": "Document envoyé à l'adresse connue de l'assuré",
    "closed": "Demande clôturée",
    "reopened": "Demande rouverte",
    "handed_over": "Passation : suivie désormais par un collègue",
    "caisse_changed": "Demande transmise à une autre caisse",
}


def _notify_author(demande: Demande, what: str, kind: NotificationKind = NotificationKind.DEMANDE,
                   event: str = "status") -> None:
    """SPEC §4/§6/§8: the author and the demande's followers are told — in the
    portal, and by e-mail as each chose — and the structure's shared mailbox
    by e-mail; a reference and a link only, never the person."""
    text = f"Demande {demande.reference} : {what}"
    link = f"/demandes/{demande.id}"
    email = ("demande_update", f"Votre demande {demande.reference} : {what}",
             {"reference": demande.reference, "demande_id": demande.id, "what": what})
    for follower in notif.followers(demande):
        notif.notify(follower, kind, event, text, link, demande_id=demande.id, email=email)
    notif.notify_mailbox(demande.partenaire.shared_mailbox, text, link)


def _caisse_acted(demande: Demande) -> None:
    """The caisse acted: the structure's last reply is no longer waiting (the cockpit's tab)."""
    demande.partner_replied_at = None


def _require_agent(actor: Account, demande: Demande) -> None:
    if actor.profile != Profile.AGENT or actor.status != AccountStatus.ACTIVE or actor.caisse_id != demande.caisse_id:
        raise NotAllowed("Seuls les agents de la caisse destinataire traitent cette demande.")


def take(actor: Account, demande: Demande) -> None:
    """SPEC §4 Caisse queue: an agent takes a demande (transmise → prise en
    charge), or takes over one a colleague holds; the author hears of the first take."""
    _require_agent(actor, demande)
    _caisse_acted(demande)
    if demande.take(actor.id, now()):
        _notify_author(demande, "prise en charge par la caisse")
    db.session.flush()


def _caisse_text(body: str, field_name: str, health_confirmed: bool) -> str:
    body = (body or "").strip()
    if not body:
        raise DomainError("Écrivez le message.", field_name)
    if len(body) > 4000:
        raise DomainError("4000 caractères au plus.", field_name)
    # The caisse's texts pass the same guards as the structure's (SPEC §4, §8).
    check_texts({field_name: body})
    check_health({field_name: body}, health_confirmed)
    return body


def _message(demande: Demande, actor: Account, body: str, *, from_caisse: bool,
             health_confirmed: bool) -> DemandeMessage:
    msg = DemandeMessage(demande_id=demande.id, author_id=actor.id, from_caisse=from_caisse, body=body,
                         health_confirmed=health_confirmed, created_at=now())
    db.session.add(msg)
    db.session.flush()
    return msg


def caisse_reply(actor: Account, demande: Demande, body: str, *, health_confirmed: bool = False,
                 prepared_files=()) -> DemandeMessage:
    """SPEC §4: an agent answers in the thread (a demande nobody took is taken
    first, on the timeline); the author is e-mailed."""
    _require_agent(actor, demande)
    demande.check_open()
    body = _caisse_text(body, "body", health_confirmed)
    demande.answer(actor.id, now())
    msg = _message(demande, actor, body, from_caisse=True, health_confirmed=health_confirmed)
    if prepared_files:
        attach_documents(actor, demande, prepared_files, message=msg, notify=False)
    _event(demande, actor, "message_caisse", message_id=msg.id)
    _caisse_acted(demande)
    _notify_author(demande, "nouvelle réponse de la caisse", event="reply")
    return msg


def request_complement(actor: Account, demande: Demande, body: str, *, health_confirmed: bool = False) -> None:
    """SPEC §4: prise en charge → en attente de complément, with what is
    missing. A demande nobody took is taken first, on the timeline (who, when)."""
    _require_agent(actor, demande)
    demande.check_move(DemandeStatus.ATTENTE_COMPLEMENT)
    body = _caisse_text(body, "body", health_confirmed)
    msg = _message(demande, actor, body, from_caisse=True, health_confirmed=health_confirmed)
    demande.ask_complement(actor.id, now(), message_id=msg.id)
    _caisse_acted(demande)
    db.session.flush()
    _notify_author(demande, "un complément vous est demandé", NotificationKind.COMPLEMENT, "complement")


def partner_reply(actor: Account, demande: Demande, body: str, *, health_confirmed: bool = False,
                  prepared_files=()) -> DemandeMessage:
    """SPEC §4: a technicien of the structure writes in the thread (and adds
    files within the 5-file limit); a complement received puts the demande
    back to « prise en charge »."""
    _require_technicien(actor)
    if not can_view_demande(actor, demande):
        raise NotAllowed("Demande introuvable.")
    demande.check_open()
    body = (body or "").strip()
    if not body and not prepared_files:
        raise DomainError("Écrivez un message ou joignez un document.", "body")
    if len(body) > 4000:
        raise DomainError("4000 caractères au plus.", "body")
    check_texts({"body": body})
    check_health({"body": body}, health_confirmed)
    msg = _message(demande, actor, body, from_caisse=False, health_confirmed=health_confirmed)
    _store_all(prepared_files, actor, demande, message=msg)
    if demande.awaits_complement:
        demande.receive_complement(actor.id, now(), message_id=msg.id, files=len(prepared_files))
        db.session.flush()
    else:
        _event(demande, actor, "message_partner", message_id=msg.id, files=len(prepared_files))
    demande.partner_replied_at = now()  # the agent's cockpit: « la structure a répondu »
    return msg


def attach_documents(actor: Account, demande: Demande, prepared_files, *, message=None, notify=True) -> None:
    """SPEC §4: for a structure habilitée, the agent attaches the document to the
    demande and the partner downloads it in the portal."""
    _require_agent(actor, demande)
    demande.check_open()
    if not demande.partenaire.habilite_documents:
        raise DomainError("Cette structure n'est pas habilitée à recevoir les documents : envoyez-le à l'adresse "
                          "connue de l'assuré et indiquez-le.", "files")
    if not prepared_files:
        raise DomainError("Joignez le document.", "files")
    _store_all(prepared_files, actor, demande, message=message, from_caisse=True)
    _event(demande, actor, "document_attached", files=len(prepared_files))
    _caisse_acted(demande)
    if notify:
        _notify_author(demande, "un document est disponible", NotificationKind.DOCUMENT, "document")


def mark_sent_by_post(actor: Account, demande: Demande) -> None:
    """SPEC §4: for other structures the document goes by post to the insured
    person's known address; the demande records it."""
    _require_agent(actor, demande)
    demande.check_open()
    demande.sent_by_post_at = now()
    _event(demande, actor, "document_by_post")
    _caisse_acted(demande)
    _notify_author(demande, "document envoyé à l'adresse connue de l'assuré", NotificationKind.DOCUMENT,
                   "document_post")


def outcomes_for(demande: Demande) -> tuple[Outcome, ...]:
    """SPEC §4: the closing outcomes of this kind of demande (signalements add the follow-up ones)."""
    return SIGNALEMENT_OUTCOMES if demande.service == Service.SIGNALEMENT.value else GENERAL_OUTCOMES


def close(actor: Account, demande: Demande, outcome: str) -> None:
    """SPEC §4: → clôturée with an outcome; signalements take the follow-up
    outcomes (Mission accompagnement santé, parcours…). A demande nobody took
    is taken first, on the timeline (who, when)."""
    _require_agent(actor, demande)
    demande.check_move(DemandeStatus.CLOTUREE)
    try:
        value = Outcome(outcome)
    except ValueError:
        raise DomainError("Choisissez l'issue de la demande.", "outcome") from None
    if value not in outcomes_for(demande):
        raise DomainError("Cette issue ne s'applique pas à ce type de demande.", "outcome")
    demande.close(actor.id, value, now())
    _caisse_acted(demande)
    db.session.flush()
    _notify_author(demande, "demande clôturée")


def purge_date(demande: Demande) -> date | None:
    """SPEC §7: the day a closed demande and its files are purged — RETENTION_DAYS
    after closure, or later when the caisse extended it."""
    if demande.closed_at is None:
        return None
    due = (demande.closed_at + timedelta(days=current_app.config["RETENTION_DAYS"])).date()
    if demande.retained_until and demande.retained_until > due:
        return demande.retained_until
    return due


MAX_RETENTION_EXTENSION_DAYS = 3 * 365


def extend_retention(actor: Account, demande: Demande, until: date | None, reason: str) -> None:
    """SPEC §7: the caisse keeps a closed demande longer than the retention
    period (a dispute, a pending procedure), for a stated reason, at most three
    years from today; audited. Only a later date extends: the purge date never
    comes earlier."""
    _require_agent(actor, demande)
    if demande.closed_at is None:
        raise DomainError("Seule une demande clôturée a une durée de conservation à prolonger.")
    reason = (reason or "").strip()
    if until is None:
        raise DomainError("Indiquez jusqu'à quelle date conserver la demande.", "until")
    current = purge_date(demande)
    if until <= current:
        raise DomainError(f"Choisissez une date après le {current.strftime('%d/%m/%Y')}, "
                          "date de suppression prévue.", "until")
    if until > today() + timedelta(days=MAX_RETENTION_EXTENSION_DAYS):
        raise DomainError("La conservation ne peut pas être prolongée de plus de trois ans à la fois.", "until")
    if not reason:
        raise DomainError("Indiquez le motif de la prolongation (contentieux, procédure en cours…).", "reason")
    check_texts({"reason": reason})
    demande.retained_until = until
    demande.retention_reason = reason[:1000]
    audit.record("retention_extended", actor, target=demande, caisse_id=demande.caisse_id,
                 partenaire_id=demande.partenaire_id, until=until.isoformat(), reason=reason[:1000])


def record_download(actor: Account, attachment) -> None:
    """SPEC §4/§7: each document download is logged."""
    audit.record("document_downloaded", actor, target=attachment,
                 partenaire_id=attachment.demande.partenaire_id if attachment.demande else None,
                 caisse_id=attachment.demande.caisse_id if attachment.demande else None,
                 demande=attachment.demande.reference if attachment.demande else None)


# ---------------------------------------------------------------- lists

@dataclass
class Filters:
    service: str = ""
    status: str = ""
    caisse_id: int | None = None
    author_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    urgent_only: bool = False
    mine: bool = False
    tab: str = ""  # one tab of the agent's cockpit (ep_web.domain.home.AGENT_TABS)
    # How a name search is answered on PostgreSQL (see _search_paths): "walk"
    # reads the list's covering index in order, testing each name; "index"
    # reads the scoped trigram index (the scope is in its entries). Same rows.
    search_path: str = "index"


# The lists' statements are built from a shape (which filters are set: a
# tuple, the key of the statements built once per process) and a binder: with
# the request's values, each value is a bound parameter holding it; without,
# a bound parameter to be given at execution (a value forgotten there is an
# error, never the value of another request).

def _binder(values: dict | None):
    from sqlalchemy import bindparam

    if values is None:
        return lambda key, type_=None: bindparam(key, type_=type_, required=True)
    return lambda key, type_=None: bindparam(key, values[key], type_=type_)


def _date_values(filters: Filters) -> dict:
    """The instants of the date filters: from the first day's midnight (Paris)
    to the midnight after the last day."""
    from datetime import datetime, time

    from ep_web.clock import PARIS

    values = {}
    if filters.date_from:
        values["from_at"] = datetime.combine(filters.date_from, time.min, PARIS)
    if filters.date_to:
        values["to_at"] = datetime.combine(filters.date_to + timedelta(days=1), time.min, PARIS)
    return values


def _date_conditions(date_from: bool, date_to: bool, bind) -> list:
    conditions = []
    if date_from:
        conditions.append(Demande.created_at >= bind("from_at", Demande.created_at.type))
    if date_to:
        conditions.append(Demande.created_at < bind("to_at", Demande.created_at.type))
    return conditions


def hidden_caisse_ids(partenaire_id: int) -> list[int]:
    """Caisses the structure had a convention with but no longer has one in
    force: their demandes are hidden (SPEC §3). Usually none. (caisse_scope:
    one query of three columns.)"""
    return caisse_scope(partenaire_id)[1]


@cache
def _scope_selects() -> dict:
    """The statements of caisse_scope and history_choices, built once per
    process with the structure and the day bound (every history view runs one)."""
    from sqlalchemy import Date, and_, bindparam, case, false, union_all

    from ep_web.domain.access import in_force_filter
    from ep_web.prepared import prepared

    partenaire_id, on = bindparam("partenaire_id"), bindparam("on", type_=Date)
    in_force = case((and_(*in_force_filter(on)), True), else_=False)
    scope = (select(Convention.caisse_id, Caisse.name, in_force)
             .join(Caisse, Caisse.id == Convention.caisse_id).where(Convention.partenaire_id == partenaire_id))
    caisses = (select(literal("c").label("kind"), Convention.caisse_id.label("id"), Caisse.name.label("a"),
                      literal("").label("b"), in_force.label("flag"))
               .join(Caisse, Caisse.id == Convention.caisse_id).where(Convention.partenaire_id == partenaire_id))
    authors = (select(literal("t"), Account.id, Account.prenom, Account.nom, false())
               .where(Account.partenaire_id == partenaire_id, Account.profile == Profile.TECHNICIEN,
                      Account.status != AccountStatus.DELETED))
    both = union_all(caisses, authors).subquery()
    # Prepared (PostgreSQL): a structure's conventions and accounts are a few rows, read the same way for all.
    return {"scope": prepared(scope), "choices": prepared(select(both).order_by(both.c.kind, both.c.b, both.c.a,
                                                                              both.c.id))}


def history_choices(partenaire_id: int) -> tuple[list[tuple[int, str]], list[int], list[tuple[int, str]]]:
    """caisse_scope and history_authors in one round trip (the history's full
    page): (visible caisses, hidden caisse ids, authors)."""
    rows = core_read(_scope_selects()["choices"], {"partenaire_id": partenaire_id, "on": today()}).all()
    visible = {r.id: r.a for r in rows if r.kind == "c" and r.flag}
    hidden = sorted({r.id for r in rows if r.kind == "c"} - set(visible))
    people = [(r.id, f"{r.a} {r.b}".strip()) for r in rows if r.kind == "t"]
    return sorted(visible.items(), key=lambda item: (item[1], item[0])), hidden, people


def caisse_scope(partenaire_id: int) -> tuple[list[tuple[int, str]], list[int]]:
    """SPEC §3-4, in one query: the caisses the structure is in convention
    with now, (id, name) by name — the history's caisse filter — and those it
    no longer is, whose demandes it does not see."""
    rows = core_read(_scope_selects()["scope"], {"partenaire_id": partenaire_id, "on": today()}).all()
    visible = {cid: name for cid, name, in_force in rows if in_force}
    hidden = sorted({cid for cid, _, _ in rows} - set(visible))
    return sorted(visible.items(), key=lambda item: (item[1], item[0])), hidden


# The lists' orders; each has an index that reads it (models.demande).
HISTORY_ORDER = (Demande.created_at.desc(), Demande.id.desc())
QUEUE_ORDER = (Demande.urgent.desc(), Demande.due_at.is_(None), Demande.due_at, Demande.created_at, Demande.id)


def history_query(user: Account, filters: Filters, hidden: list[int] | None = None):
    """SPEC §4 History: every demande of the technicien's structure (not only
    its own) to caisses still in convention, newest first.

    Demandes only go to caisses in convention, so excluding the caisses whose
    convention has ended is the same as keeping the visible ones — and keeps
    the newest-first index scan (partenaire_id, created_at, id) usable."""
    by_index = bool(filters.q) and filters.search_path == "index" and _scoped_search(filters.q)
    if hidden is None:
        hidden = hidden_caisse_ids(user.partenaire_id)
    shape = _history_shape(filters, hidden, scoped=not by_index)  # the scoped trigrams hold the structure
    q = select(Demande).where(*_history_where(shape, _history_values(user, filters, hidden)))
    if filters.q:
        q = q.where(name_matches(filters.q, Demande.partenaire_id, user.partenaire_id, filters.search_path))
    return q.order_by(*HISTORY_ORDER)


def _history_shape(filters: Filters, hidden: list[int], scoped: bool = True) -> tuple:
    return (scoped, bool(hidden), bool(filters.service), bool(filters.status), bool(filters.caisse_id),
            bool(filters.author_id), bool(filters.date_from), bool(filters.date_to))


def _history_values(user: Account, filters: Filters, hidden: list[int]) -> dict:
    return {"partenaire_id": user.partenaire_id, "hidden": hidden, "service": filters.service,
            "status": filters.status, "caisse_id": filters.caisse_id, "author_id": filters.author_id,
            **_date_values(filters)}


def _history_where(shape: tuple, values: dict | None = None) -> list:
    """The history's conditions but the name search (SPEC §4 History)."""
    from sqlalchemy import bindparam

    scoped, hidden, service, status, caisse, author, date_from, date_to = shape
    bind = _binder(values)
    conditions = []
    if scoped:
        conditions.append(Demande.partenaire_id == bind("partenaire_id"))
    if hidden:
        conditions.append(Demande.caisse_id.not_in(
            bindparam("hidden", expanding=True, **({} if values is None else {"value": values["hidden"]}))))
    if service:
        conditions.append(Demande.service == bind("service", Demande.service.type))
    if status:
        conditions.append(Demande.status == bind("status", Demande.status.type))
    if caisse:
        conditions.append(Demande.caisse_id == bind("caisse_id"))
    if author:
        conditions.append(Demande.author_id == bind("author_id"))
    return conditions + _date_conditions(date_from, date_to, bind)


def _queue_filtered(q, user: Account, filters: Filters, statuses=OPEN_STATUSES):
    """The caisse's demandes under every filter but the status (``statuses``:
    those the query keeps, which the open queue's name index needs)."""
    scoped = not (filters.q and filters.search_path in ("index", "open") and _scoped_search(filters.q))
    # else: the scoped trigrams hold the caisse
    q = q.where(*_queue_where(_queue_shape(filters, scoped), _queue_values(user, filters)))
    if filters.q:
        q = q.where(name_matches(filters.q, Demande.caisse_id, user.caisse_id, filters.search_path, statuses))
    return q


def _queue_shape(filters: Filters, scoped: bool = True) -> tuple:
    return (scoped, bool(filters.service), bool(filters.urgent_only), bool(filters.mine), filters.tab or "",
            bool(filters.date_from), bool(filters.date_to))


def _queue_values(user: Account, filters: Filters) -> dict:
    values = {"caisse_id": user.caisse_id, "agent_id": user.id, "service": filters.service, **_date_values(filters)}
    if filters.tab:
        from ep_web.models.demande import SLA_SOON

        values["at"] = now()
        values["soon"] = values["at"] + SLA_SOON
    return values


def _queue_where(shape: tuple, values: dict | None = None) -> list:
    """The queue's conditions but the status and the name search (SPEC §4 Caisse queue)."""
    from types import SimpleNamespace

    scoped, service, urgent, mine, tab, date_from, date_to = shape
    bind = _binder(values)
    conditions = []
    if scoped:
        conditions.append(Demande.caisse_id == bind("caisse_id"))
    if service:
        conditions.append(Demande.service == bind("service", Demande.service.type))
    if urgent:
        conditions.append(Demande.urgent.is_(True))
    if mine:
        conditions.append(Demande.assigned_to_id == bind("agent_id"))
    if tab:
        from ep_web.domain.home import tab_filter

        agent = SimpleNamespace(id=bind("agent_id"))
        conditions += tab_filter(agent, tab, bind("at", Demande.due_at.type), bind("soon", Demande.due_at.type)) or ()
    return conditions + _date_conditions(date_from, date_to, bind)


def queue_query(user: Account, filters: Filters):
    """SPEC §4 Caisse queue: open demandes first; urgent signalements on top,
    then by the 48-hour clock (overdue first), then oldest first."""
    statuses = [DemandeStatus(filters.status)] if filters.status else OPEN_STATUSES
    q = _queue_filtered(select(Demande), user, filters, statuses)
    if filters.status:
        q = q.where(_status_is(DemandeStatus(filters.status), filters.search_path))
    else:
        q = q.where(Demande.status.in_(OPEN_STATUSES))
    return q.order_by(*QUEUE_ORDER)


def _status_is(status: DemandeStatus, path: str):
    """One status of the queue. Read through the open queue's name index
    (path "open"), whose entries hold the status, the test names the open
    statuses only — what that partial index needs — so that the planner does
    not add another partial index of that status (ix_demande_complement: every
    demande of the country awaiting a complement)."""
    if path == "open" and status in OPEN_STATUSES:
        return Demande.status.in_(OPEN_STATUSES)
    return Demande.status == status


def queue_counts(user: Account, filters: Filters, probes: dict | None = None) -> dict[DemandeStatus, int]:
    """How many of the caisse's demandes per status under the other filters
    (the counts shown above the queue), each capped at COUNT_CAP + 1 so a large
    caisse pays for at most that many index entries per status (SPEC §4 Caisse queue).

    A name search on PostgreSQL first probes the open queue and the closed
    demandes in the queue's order (one round trip, _queue_probes, kept in
    ``probes`` for the rows): a count the probe read whole is known; else a
    status where the name is common is read in order, and one where it is rare
    through its trigram index (the open queue's, or the caisse's for the closed
    ones), which reads its matches only."""
    counts = {status: 0 for status in DemandeStatus}
    paths = {status: filters.search_path for status in DemandeStatus}
    if filters.q and _scoped_search(filters.q):
        window, open_scanned = _queue_probes(user, filters)
        if probes is not None:
            probes.update(window=window, open_scanned=open_scanned)
        for status in DemandeStatus:
            scanned, found = window.get(status, (0, 0))
            if status in OPEN_STATUSES:
                # The probe read the open statuses together: all of them, or a sample of each.
                if open_scanned < SEARCH_PROBE or found > COUNT_CAP:
                    path = "known"
                else:
                    path = _open_count_path(scanned, found, _queue_narrowed(filters))
            else:
                path = _search_path(scanned, found)
            if path == "known":
                counts[status] = min(found, COUNT_CAP + 1)
                del paths[status]
            else:
                paths[status] = path
    if paths:
        parts = tuple((status.value, *_queue_shapes(filters, path, [status]), path) for status, path in paths.items())
        values = _queue_values_for(user, filters, parts)
        for status, n in core_read(_queue_counts_statement(parts, COUNT_CAP), values):  # one round trip
            counts[DemandeStatus(status)] = n
    return counts


def _queue_shapes(filters: Filters, path: str, statuses) -> tuple:
    """(conditions' shape, name search's shape or None) of the queue read by
    ``path`` for ``statuses`` (those the query keeps, which the open queue's
    name index needs)."""
    if not filters.q:
        return _queue_shape(filters), None
    # else: the scoped trigrams hold the caisse
    scoped = not (path in ("index", "open") and _scoped_search(filters.q))
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    return _queue_shape(filters, scoped), _name_shape(filters.q, postgresql, Demande.caisse_id, path, statuses)


def _queue_values_for(user: Account, filters: Filters, parts) -> dict:
    """The values of the queue's statements: its filters', and each name search shape's in ``parts``
    ((…, conditions' shape, name shape, …) tuples)."""
    values = _queue_values(user, filters)
    for part in parts:
        if part[2] is not None:
            values.update(_name_values(filters.q, part[2], user.caisse_id))
    return values


def _queue_select(columns, where: tuple, name: tuple | None):
    query = select(*columns).select_from(Demande).where(*_queue_where(where))
    if name is not None:
        query = query.where(_name_condition(name, Demande.caisse_id, _binder(None)))
    return query


@cache
def _queue_counts_statement(parts: tuple, cap: int):
    """The capped count of each status of ``parts`` ((status, conditions'
    shape, name shape, path) tuples) in one round trip, built once per
    process per shape (and COUNT_CAP, which the tests change)."""
    from sqlalchemy import literal_column, union_all

    selects = []
    for status, where, name, path in parts:
        limited = (_queue_select([literal_column("1")], where, name)
                   .where(_status_is(DemandeStatus(status), path)).limit(cap + 1).subquery())
        selects.append(select(literal(status).label("status"), func.count().label("n")).select_from(limited))
    return union_all(*selects)


@cache
def _queue_rows_statement(where: tuple, name: tuple | None, status: str, path: str):
    """One page of the queue's rows (bound: limit, offset), built once per process per shape."""
    from sqlalchemy import bindparam

    shown = [_status_is(DemandeStatus(status), path)] if status else _open_only(where)
    query = _queue_select([Demande], where, name).where(*shown).order_by(*QUEUE_ORDER)
    return _page_select(query, "queue", bindparam("limit"), bindparam("offset"))


@cache
def _queue_probe_statement(where: tuple, short: bool, probe: int):
    """_queue_probes' statement, built once per process per shape (bound: the queue's values and "term")."""
    from sqlalchemy import bindparam, union_all

    match = _exact_test(short, Demande.nom_search, bindparam("term", required=True)).label("match")
    closed = DemandeStatus.CLOTUREE
    opened = (_queue_select([Demande.status, match], where, None).where(*_open_only(where))
              .order_by(*QUEUE_ORDER).limit(probe).subquery())
    parts = [opened]
    if not _tab_open(where[4]):  # else no closed demande is in the tab: none to read
        parts.append(_queue_select([Demande.status, match], where, None).where(Demande.status == closed)
                     .order_by(*QUEUE_ORDER).limit(probe).subquery())
    return union_all(*(select(w.c.status, func.count(), func.count().filter(w.c.match)).group_by(w.c.status)
                       for w in parts))


def _tab_open(tab: str) -> bool:
    """A cockpit tab keeps open demandes only: each is drawn from the caisse's
    open demandes (ep_web.domain.home.tab_filter; tested for every tab)."""
    from ep_web.domain.home import AGENT_TABS

    return tab in AGENT_TABS


def _open_only(where: tuple) -> list:
    """The condition keeping the open statuses, unless the queue's tab (in the
    conditions' shape ``where``) already holds it: written twice, PostgreSQL
    counts its selectivity twice and, expecting a few dozen overdue demandes
    instead of thousands, sorts them all rather than read them in the queue's
    order (at 5 M: 3 958 sorted, 6.3 ms, against 0.7 read in order)."""
    return [] if _tab_open(where[4]) else [Demande.status.in_(OPEN_STATUSES)]


def _queue_probes(user: Account, filters: Filters) -> tuple[dict, int]:
    """A name search in the queue, in one round trip: the first SEARCH_PROBE
    entries of the open queue and of the closed demandes, in the queue's order
    (index only). Returns ({status: (entries read, names matching)}, entries
    of the open queue read)."""
    term = fold_name(filters.q)
    short = len(term) < 3
    both = _queue_probe_statement(_queue_shape(filters), short, SEARCH_PROBE)
    values = {**_queue_values(user, filters), "term": _needle(term)}
    window = {DemandeStatus(status): (scanned, found) for status, scanned, found in core_read(both, values)}
    return window, sum(scanned for status, (scanned, _) in window.items() if status in OPEN_STATUSES)


# A name search on PostgreSQL first reads this many entries of the list's
# covering index, in the list's order, testing each name (index only: a
# millisecond or two). All of the list, or more than COUNT_CAP names: the
# count is known. A common name (at least SEARCH_DENSE of the entries): the
# list is read that way and stops early. Else the scoped trigram index reads
# the matches alone. Either way, the same rows.
SEARCH_PROBE = 2_000
SEARCH_DENSE = 0.02


def _search_path(scanned: int, found: int) -> str:
    """"known" (the probe counted it all), "walk" or "index", for a capped count."""
    if found > COUNT_CAP or scanned < SEARCH_PROBE:
        return "known"
    return "walk" if found >= SEARCH_DENSE * scanned else "index"


# Counting an open status of the queue through its trigram index (migration
# 0018) costs about this many entries of the status read in order per match
# (its heap row, recent and cached): measured at 1 M and 5 M, index only
# 0.16-0.20 µs an entry, trigram 0.9-1.4 µs a match (ratio 4.6-7.4). Both
# stop at COUNT_CAP + 1 matches, so reading in order is cheaper exactly when
# at least 1 / OPEN_HEAP_COST of the entries match, whatever the queue's size.
OPEN_HEAP_COST = 6


def _queue_narrowed(filters: Filters) -> bool:
    """Filters that the open queue's trigram index does not hold (its entries
    are the caisse, the status and the name): it would read every match of
    the name in the status to keep a few."""
    return any(_queue_shape(filters)[1:])  # every filter of the queue's conditions but the caisse


def _open_count_path(scanned: int, found: int, narrowed: bool) -> str:
    """"walk" or "open" for the capped count of one open status, from its part
    of the probe (``scanned`` entries, ``found`` names). Without other
    filters: in order when at least 1 / OPEN_HEAP_COST of the entries match;
    with (``narrowed``), the trigram index would read the name's matches of
    the whole status: in order from SEARCH_DENSE."""
    dense = SEARCH_DENSE if narrowed else 1 / OPEN_HEAP_COST
    return "walk" if scanned and found >= dense * scanned else "open"


def _rows_path(scanned: int, found: int, need: int) -> str:
    """For a page of rows (``need`` matches from the start): read in order when
    the probe suggests fewer than 20 probes' worth of entries to read."""
    return "walk" if found * 20 >= need or scanned < SEARCH_PROBE else "index"


def _scoped_search(raw: str) -> bool:
    """A name search the scoped trigram index can answer (PostgreSQL, a text with trigrams)."""
    return db.session.get_bind().dialect.name == "postgresql" and bool(search_trigrams(fold_name(raw)))


# Reading a match through a trigram index (its heap row) costs about as much
# as reading this many entries of a list's covering index in order.
HEAP_COST = 15


def queue_search_path(probes: dict, counts: dict, statuses, need: int) -> str:
    """A name search's queue rows (queue_counts filled ``probes`` and gave
    ``counts``): the closed ones as their probe suggests; the open ones in
    order, unless reading the matches through the open queue's trigram index
    costs less than reading the queue until ``need`` of them."""
    window = probes.get("window")
    if window is None:
        return "walk"
    statuses = list(statuses)
    if statuses == [DemandeStatus.CLOTUREE]:
        return _rows_path(*window.get(DemandeStatus.CLOTUREE, (0, 0)), need)
    if probes["open_scanned"] < SEARCH_PROBE or any(counts[s] > COUNT_CAP for s in statuses):
        return "walk"  # a small queue, or a common name: read in order, it stops early
    found = sum(window.get(s, (0, 0))[1] for s in statuses)
    scanned = probes["open_scanned"] if len(statuses) > 1 else window.get(statuses[0], (0, 0))[0]
    matches = sum(counts[s] for s in statuses)
    return "open" if not found or matches * HEAP_COST * found < need * scanned else "walk"


def _exact_name(term: str, column):
    """The exact test on PostgreSQL (strpos: no trigram index answers it)."""
    return _exact_test(len(term) < 3, column, _needle(term))


def _needle(term: str) -> str:
    """What _exact_test looks for: the folded term, after a space when it is
    short (1 or 2 characters: a word's start)."""
    return " " + term if len(term) < 3 else term


def _exact_test(short: bool, column, needle):
    """``needle`` in the name; short (1 or 2 characters): at a word's start (``needle`` is " " + term)."""
    if not short:
        return func.strpos(column, needle) > 0
    return func.strpos(literal(" ") + column, needle) > 0


def name_matches(raw: str, scope=None, scope_id: int | None = None, path: str = "index", statuses=()):
    """The person's name contains the typed text (accents and case ignored);
    with 1 or 2 characters, a word of the name starts with it ("du" finds
    Dupont and Le Duc, not Mendu).

    On PostgreSQL, with the list's scope (``Demande.partenaire_id`` or
    ``Demande.caisse_id`` and its value), the search also asks for the
    trigrams the text implies, prefixed with the scope (migration 0017): the
    GIN index of ``ep_scoped_trgm`` then reads only the entries of that
    structure or caisse holding them, however large the table, and the exact
    test (``strpos``, which no trigram index answers, so that the planner does
    not intersect the older country-wide index too) checks those rows alone
    (SPEC §4 History: search by the person's name). ``path="open"``: the
    caisse's open queue, through the index of migration 0018, whose entries
    are prefixed with the caisse and the status (one scan per open status of
    ``statuses``)."""
    postgresql = scope is not None and db.session.get_bind().dialect.name == "postgresql"
    shape = _name_shape(raw, postgresql, scope, path, statuses)
    return _name_condition(shape, scope, _binder(_name_values(raw, shape, scope_id)))


def _name_shape(raw: str, postgresql: bool, scope, path: str, statuses=()) -> tuple:
    """What name_matches' condition looks like: ("exact", short) or
    ("scoped", short) or ("open", short, open statuses) on PostgreSQL,
    ("like", short) elsewhere (short: 1 or 2 characters, a word's start)."""
    term = fold_name(raw)
    if postgresql:
        short = len(term) < 3
        if not search_trigrams(term) or path == "walk":
            return ("exact", short)
        opened = tuple(DemandeStatus(s).value for s in statuses if DemandeStatus(s) in OPEN_STATUSES)
        if path == "open" and opened and scope is Demande.caisse_id:
            return ("open", short, opened)
        return ("scoped", short)
    return ("like", len(_like(term)) < 3)


def _name_values(raw: str, shape: tuple, scope_id) -> dict:
    term = fold_name(raw)
    kind, short = shape[0], shape[1]
    if kind == "like":
        term = _like(term)
        return {"prefix": f"{term}%", "word": f"% {term}%"} if short else {"pattern": f"%{term}%"}
    values = {"term": _needle(term)}
    if kind == "open":
        tokens = search_trigrams(term)
        values.update({f"open_{s}": [f"{scope_id}:{s}:{t}" for t in tokens] for s in shape[2]})
    elif kind == "scoped":
        values["scoped"] = [f"{scope_id}:{t}" for t in search_trigrams(term)]
    return values


def _name_condition(shape: tuple, scope, bind):
    """name_matches' condition for a shape (_name_shape), its values bound by ``bind``."""
    kind, short = shape[0], shape[1]
    if kind == "like":
        if not short:
            return Demande.nom_search.like(bind("pattern"), escape="\\")
        return or_(Demande.nom_search.like(bind("prefix"), escape="\\"),
                   Demande.nom_search.like(bind("word"), escape="\\"))
    exact = _exact_test(short, Demande.nom_search, bind("term"))
    if kind == "exact":
        return exact
    from sqlalchemy.dialects.postgresql import ARRAY
    from sqlalchemy.types import Text

    if kind == "open":
        keys = func.ep_scoped_trgm(Demande.caisse_id, Demande.status, Demande.nom_search, type_=ARRAY(Text))
        return and_(or_(*(keys.contains(bind(f"open_{s}", ARRAY(Text))) for s in shape[2])), exact)
    return and_(func.ep_scoped_trgm(scope, Demande.nom_search, type_=ARRAY(Text)).contains(
        bind("scoped", ARRAY(Text))), exact)


def search_trigrams(term: str) -> list[str]:
    """The pg_trgm trigrams every name matching ``term`` (folded) holds.

    pg_trgm pads each word of a name with two spaces before and one after.
    Each run of ASCII letters and digits of the needle (the term, or " " +
    the term when it is short: a word's start) gives its own trigrams; a run
    after a space starts a word of the name (" du": "  d", " du") and a run
    before a space ends one ("de la": "de ", then "  l", " la"), so those
    sides are padded too. A run next to any other character may be part of a
    longer word, or split or hashed differently by pg_trgm: only its inside
    counts, and the exact test decides. A longer term whose trigrams are only
    words' first letters gives none (the list is read in order)."""
    import re

    needle = _needle(term)
    found: list[str] = []
    for run in re.finditer(r"[a-z0-9]+", needle):
        start, end = run.span()
        padded = ("  " if start and needle[start - 1] == " " else "") + run.group() + (
            " " if end < len(needle) and needle[end] == " " else "")
        for i in range(len(padded) - 2):
            if padded[i:i + 3] not in found:
                found.append(padded[i:i + 3])
    if len(term) >= 3 and all(t.startswith("  ") for t in found):
        # Only words' first letters ("o b": "  b"): too many names hold them,
        # reading the list in order costs less (measured at 5 M: 36 against 77 ms).
        return []
    return found


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Past this many results the lists say "plus de 1 000" and offer 50 pages: a
# busy user refines with the filters, and counting 50 000 rows on every
# keystroke would cost more than the page itself (bench/pages.py).
COUNT_CAP = 1000


def capped_count(query) -> int:
    """The number of rows of a select, up to COUNT_CAP + 1 (selecting a
    constant lets PostgreSQL answer from the index alone where it can) (SPEC §4 History, pagination)."""
    from sqlalchemy import literal_column

    limited = query.with_only_columns(literal_column("1")).order_by(None).limit(COUNT_CAP + 1).subquery()
    return core_read(select(func.count()).select_from(limited)).scalar()


def page_count(total: int, per_page: int) -> int:
    """SPEC §4 History, pagination: pages for ``total`` rows, at most COUNT_CAP rows deep."""
    return max(1, min(-(-total // per_page), COUNT_CAP // per_page))


def _page_asked(page: int, per_page: int) -> int:
    """The page asked for, within the pages a list can ever have (page_count):
    ?page=99999 reads the last of them, not 2 million entries before it."""
    return min(max(1, page), page_count(COUNT_CAP + 1, per_page))


def paginate(query, page: int, per_page: int = 20):
    """(rows, total, pages) for a select; the total is capped (see COUNT_CAP) (SPEC §4 pagination)."""
    total = capped_count(query)
    pages = page_count(total, per_page)
    page = min(max(1, page), pages)
    rows = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return rows, total, pages


# ---------------------------------------------------------------- the partner's history page

class DemandeRow:
    """A line of a list (history, queue): the columns it shows and the names
    joined in, with the state properties of Demande the badges read. The
    48-hour clock is read once for the whole list (``seen_at``): its state
    (``sla_state``) is worked out when the row is built."""

    is_open = Demande.is_open
    status_badge = Demande.status_badge
    sla_state_at = Demande.sla_state_at

    def __init__(self, seen_at=None, **fields):
        self.__dict__.update(fields)
        self.seen_at = seen_at
        self.sla_state = self.sla_state_at(seen_at) if self.due_at is not None else None


class _Named:
    __slots__ = ("name", "full_name")

    def __init__(self, name: str):
        self.name = self.full_name = name


# What the history and the queue show of a demande.
_ROW_COLUMNS = (Demande.id, Demande.reference, Demande.service, Demande.status, Demande.outcome, Demande.civilite,
                Demande.nom, Demande.prenom, Demande.date_naissance, Demande.departement, Demande.urgent,
                Demande.due_at, Demande.created_at, Demande.assigned_to_id)


def _person_name(prenom, nom, status) -> str | None:
    if status is None:
        return None
    if status == AccountStatus.DELETED:
        return "compte supprimé"
    return f"{prenom or ''} {nom or ''}".strip()


@cache
def _list_select(side: str):
    """The rows' select of a list without its ids (built once per process:
    building the labels and joins cost more than running the query)."""
    from sqlalchemy.orm import aliased

    person = aliased(Account)
    if side == "history":
        other, other_id, person_id, order = Caisse, Demande.caisse_id, Demande.author_id, HISTORY_ORDER
    else:
        other, other_id, person_id, order = Partenaire, Demande.partenaire_id, Demande.assigned_to_id, QUEUE_ORDER
    return (select(*_ROW_COLUMNS, other.name.label("other_name"), person.prenom.label("person_prenom"),
                   person.nom.label("person_nom"), person.status.label("person_status"))
            .join(other, other.id == other_id).outerjoin(person, person.id == person_id).order_by(*order))


_ROW_KEYS = tuple(c.key for c in _ROW_COLUMNS)


def _page_select(query, side: str, limit, offset):
    """The rows' select of one page of ``query`` (a select of demandes, in the list's order)."""
    # The page's ids first: every filter and the order are in the list's
    # covering index (PostgreSQL reads it alone, however many rows a name
    # search skips), then the 20 rows by primary key.
    ids = query.with_only_columns(Demande.id, maintain_column_froms=False).limit(limit).offset(offset).subquery()
    return _list_select(side).where(Demande.id.in_(select(ids.c.id)))


def _rows(result, side: str) -> list[DemandeRow]:
    """The rows of a list's result (what _list_select reads; any other
    column is left out). The clock is read once for the page (each row's
    48-hour clock)."""
    rows = []
    history = side == "history"
    at = now()
    for r in result:
        fields = dict(zip(_ROW_KEYS, r))
        name = _person_name(r.person_prenom, r.person_nom, r.person_status)
        named = _Named(name) if name is not None else None
        if history:
            fields.update(caisse=_Named(r.other_name), author=named)
        else:
            fields.update(partenaire=_Named(r.other_name), assigned_to=named)
        rows.append(DemandeRow(at, **fields))
    return rows


@cache
def _queue_statements(shape: tuple, status: str, cap: int, tabs: bool) -> dict:
    """A queue without a name search, built once per process for each shape
    of the filters (and COUNT_CAP, which the tests change): "counts", the
    capped count of each status (one round trip), and "page", one page of
    rows (bound: limit, offset) carrying those counts in columns n_<status>
    — and with ``tabs``, the cockpit tabs' capped counts in columns t<i>
    (ep_web.domain.home.tab_count_subqueries, AGENT_TABS' order): one round
    trip for a page that has rows."""
    from sqlalchemy import bindparam, literal_column, union_all

    where = _queue_where(shape)
    parts, columns = [], []
    for st in DemandeStatus:
        limited = (select(literal_column("1")).select_from(Demande).where(*where, _status_is(st, "index"))
                   .limit(cap + 1).subquery())
        parts.append(select(literal(st.value).label("status"), func.count().label("n")).select_from(limited))
        columns.append(select(func.count()).select_from(limited).scalar_subquery().label(f"n_{st.value}"))
    if tabs:
        from ep_web.domain.home import tab_count_subqueries

        columns += [select(func.count()).select_from(limited).scalar_subquery().label(f"t{i}")
                    for i, limited in enumerate(tab_count_subqueries().values())]
    shown = [Demande.status == DemandeStatus(status)] if status else _open_only(shape)
    query = select(Demande).where(*where, *shown).order_by(*QUEUE_ORDER)
    page = _page_select(query, "queue", bindparam("limit"), bindparam("offset")).add_columns(*columns)
    return {"counts": union_all(*parts), "page": page}


def _cached_queue_page(user: Account, filters: Filters, page: int, per_page: int, tab_counts: dict | None):
    """queue_page without a name search: counts (and the tabs' counts) and
    rows in one statement when the page asked for has rows (page 1 of a
    non-empty list, a page within the list); else the counts, then the last
    page's rows."""
    tabs = tab_counts is not None
    statements = _queue_statements(_queue_shape(filters), filters.status, COUNT_CAP, tabs)
    values = _queue_values(user, filters)
    if tabs:
        from ep_web.domain.home import tab_count_values

        values.update(tab_count_values(user, values.get("at")))
    shown = [DemandeStatus(filters.status)] if filters.status else OPEN_STATUSES
    page = _page_asked(page, per_page)
    result = core_read(statements["page"], {**values, "limit": per_page, "offset": (page - 1) * per_page}).all()
    if result:
        counts = {st: getattr(result[0], f"n_{st.value}") for st in DemandeStatus}
        if tabs:
            from ep_web.domain.home import AGENT_TABS

            tab_counts.update((tab, getattr(result[0], f"t{i}")) for i, tab in enumerate(AGENT_TABS))
    else:
        if tabs:
            from ep_web.domain.home import agent_tab_counts

            tab_counts.update(agent_tab_counts(user))
        counts = {DemandeStatus(st): n for st, n in core_read(statements["counts"], values)}
    total = sum(counts[status] for status in shown)
    pages = page_count(total, per_page)
    if page > pages:  # past the end: the last page
        page = pages
        result = core_read(statements["page"], {**values, "limit": per_page, "offset": (page - 1) * per_page}).all()
    return counts, _rows(result, "queue"), total, pages, page


def queue_page(user: Account, filters: Filters, page: int, per_page: int = 20, tab_counts: dict | None = None):
    """SPEC §4 Caisse queue: one page of the caisse's demandes in the queue's
    order. One grouped count gives the counts per status and the total (the
    open statuses, or the one filtered on); a name search then reads its rows
    the cheaper way the count's probe chose (same rows). Returns (counts,
    rows, total, page count, the page shown — a page past the end shows the
    last). ``tab_counts``: filled with the cockpit tabs' counts
    (home.agent_tab_counts), read with the rows when they can be."""
    if not filters.q:
        return _cached_queue_page(user, filters, page, per_page, tab_counts)
    if tab_counts is not None:
        from ep_web.domain.home import agent_tab_counts

        tab_counts.update(agent_tab_counts(user))
    probes: dict = {}
    counts = queue_counts(user, filters, probes)
    shown = [DemandeStatus(filters.status)] if filters.status else OPEN_STATUSES
    total = sum(counts[status] for status in shown)
    pages = page_count(total, per_page)
    page = min(max(1, page), pages)
    path = queue_search_path(probes, counts, shown, page * per_page) if probes else filters.search_path
    where, name = _queue_shapes(filters, path, shown)
    values = _queue_values_for(user, filters, [(None, where, name)])
    values.update(limit=per_page, offset=(page - 1) * per_page)
    rows = _rows(core_read(_queue_rows_statement(where, name, filters.status, path), values), "queue")
    return counts, rows, total, pages, page


def _history_shapes(filters: Filters, hidden: list[int], path: str) -> tuple:
    """(conditions' shape, name search's shape or None) of the history read by ``path``."""
    if not filters.q:
        return _history_shape(filters, hidden), None
    by_index = path == "index" and _scoped_search(filters.q)  # the scoped trigrams hold the structure
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    return (_history_shape(filters, hidden, scoped=not by_index),
            _name_shape(filters.q, postgresql, Demande.partenaire_id, path))


def _history_select(shape: tuple):
    """The history's select for a shape (_history_shapes), values to be bound."""
    where, name = shape
    query = select(Demande).where(*_history_where(where))
    if name is not None:
        query = query.where(_name_condition(name, Demande.partenaire_id, _binder(None)))
    return query.order_by(*HISTORY_ORDER)


@cache
def _history_matches_statement(count: tuple, cap: int):
    """A name search read through the trigram index (its probe found the name
    rare): its first COUNT_CAP + 1 matches, read once (a CTE), give the
    capped count ("total") and, when they are all of them, the page's rows
    newest first (bound: limit, offset) — one pass, one round trip. Built once
    per process per shape."""
    from sqlalchemy import bindparam

    matches = (_history_select(count).with_only_columns(Demande.id, Demande.created_at, maintain_column_froms=False)
               .order_by(None).limit(cap + 1).cte("matches"))
    ids = (select(matches.c.id).order_by(matches.c.created_at.desc(), matches.c.id.desc())
           .limit(bindparam("limit")).offset(bindparam("offset")))
    total = select(func.count()).select_from(matches).scalar_subquery().label("total")
    return _list_select("history").where(Demande.id.in_(ids)).add_columns(total)


@cache
def _history_page_statement(rows: tuple, count: tuple | None, cap: int):
    """One page of the history, built once per process per shape of the
    filters (and COUNT_CAP, which the tests change): the rows (bound: limit,
    offset) read as ``rows`` says, with the capped count read as ``count``
    says in a column ("total") — one round trip — unless ``count`` is None
    (a name search whose probe counted it all)."""
    from sqlalchemy import bindparam, literal_column

    page = _page_select(_history_select(rows), "history", bindparam("limit"), bindparam("offset"))
    if count is None:
        return page
    limited = _history_select(count).with_only_columns(literal_column("1")).order_by(None).limit(cap + 1).subquery()
    return page.add_columns(select(func.count()).select_from(limited).scalar_subquery().label("total"))


@cache
def _history_probe_statement(where: tuple, short: bool, probe: int):
    """A name search's probe (built once per process per shape): among the
    newest ``probe`` entries of the structure's covering index, how many, and
    how many names match (bound: the history's values and "term")."""
    from sqlalchemy import bindparam

    match = _exact_test(short, Demande.nom_search, bindparam("term", required=True)).label("match")
    window = (select(Demande).where(*_history_where(where))
              .with_only_columns(match, maintain_column_froms=False).order_by(*HISTORY_ORDER).limit(probe).subquery())
    return select(func.count(), func.count().filter(window.c.match))


def _history_values_for(user: Account, filters: Filters, hidden: list[int], *shapes) -> dict:
    values = _history_values(user, filters, hidden)
    for shape in shapes:
        if shape is not None and shape[1] is not None:
            values.update(_name_values(filters.q, shape[1], user.partenaire_id))
    return values


def history_page(user: Account, filters: Filters, page: int, per_page: int = 20, hidden: list[int] | None = None):
    """SPEC §4 History: one page of the structure's demandes, newest first,
    and its capped count; returns (rows, capped total, page count, the page
    shown — a page past the end shows the last).

    One statement for the rows and the count (_history_page_statement). A
    name search on PostgreSQL first probes the newest SEARCH_PROBE entries of
    the structure's covering index: the count when they are all of them, or
    when they already hold more than COUNT_CAP names; else it tells whether
    the count and the rows are read in order or through the trigram index.
    A page without rows (an empty list, a page past the end): the count, then
    the last page's rows."""
    if hidden is None:
        hidden = hidden_caisse_ids(user.partenaire_id)
    page = _page_asked(page, per_page)
    scanned, found, known = SEARCH_PROBE, 0, None
    count_path, probed = filters.search_path, False
    if filters.q and _scoped_search(filters.q):
        probed = True
        term = fold_name(filters.q)
        short = len(term) < 3
        probe = _history_probe_statement(_history_shape(filters, hidden), short, SEARCH_PROBE)
        values = {**_history_values(user, filters, hidden), "term": _needle(term)}
        scanned, found = core_read(probe, values).one()
        count_path = _search_path(scanned, found)
        if count_path == "known":
            known = min(found, COUNT_CAP + 1)
        elif _open_status(filters):
            count_path = "walk"

    def read(page: int, with_count: bool):
        path = "walk" if probed and _open_status(filters) else _rows_path(scanned, found, page * per_page)
        rows = _history_shapes(filters, hidden, path)
        count = _history_shapes(filters, hidden, count_path) if with_count else None
        values = _history_values_for(user, filters, hidden, rows, count)
        values.update(limit=per_page, offset=(page - 1) * per_page)
        return core_read(_history_page_statement(rows, count, COUNT_CAP), values).all()

    if probed and count_path == "index":
        # A rare name: its matches through the trigram index, once, for the
        # count and — when they are all of them and reach the page — the rows.
        count = _history_shapes(filters, hidden, count_path)
        values = _history_values_for(user, filters, hidden, count)
        values.update(limit=per_page, offset=(page - 1) * per_page)
        result = core_read(_history_matches_statement(count, COUNT_CAP), values).all()
        total = result[0].total if result else None  # no row on page 1: no match at all
        if total is not None and total > COUNT_CAP:  # counted, but these are not all the matches
            page = min(page, page_count(total, per_page))
            result = read(page, False)
        elif total is None and page > 1:  # past the end, or not all the matches: as below
            result = read(page, True)
            total = result[0].total if result else None
    else:
        result = read(page, known is None)
        total = known if known is not None else (result[0].total if result else None)
    if total is None:
        total = 0 if page == 1 else capped_count(history_query(user, replace(filters, search_path=count_path), hidden))
    pages = page_count(total, per_page)
    if page > pages:  # past the end: the last page
        page = pages
        result = read(page, False)
    return _rows(result, "history"), total, pages, page


def _open_status(filters: Filters) -> bool:
    """The history filtered on one open status: a few per cent of the
    structure's demandes, which their own index reads in order
    (ix_demande_partenaire_open), so a name search reads them that way. The
    trigram index, which holds no status, was combined by the planner with a
    partial index of the open demandes read whole (every open demande of the
    country: 13–26 ms at 5 M demandes)."""
    return filters.status in _OPEN_VALUES


_OPEN_VALUES = frozenset(status.value for status in OPEN_STATUSES)


def history_authors(partenaire_id: int) -> list[tuple[int, str]]:
    """SPEC §4 History, filter by author: the structure's techniciens, (id,
    "Prénom Nom") by name (deleted accounts have no name left to pick, SPEC §3 Deletion)."""
    rows = db.session.execute(
        select(Account.id, Account.prenom, Account.nom)
        .where(Account.partenaire_id == partenaire_id, Account.profile == Profile.TECHNICIEN,
               Account.status != AccountStatus.DELETED)
        .order_by(Account.nom, Account.prenom, Account.id))
    return [(r.id, f"{r.prenom} {r.nom}".strip()) for r in rows]
