"""Partner structures (SPEC §2) and their suspension (SPEC §3 [4.1])."""
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager
from stdnum.exceptions import ValidationError
from stdnum.fr import siret as siret_mod

from ep_web.clock import now, today
from ep_web.domain import audit, quotas
from ep_web.domain.access import caisse_in_force, caisse_knows
from ep_web.domain.accounts import normalize_email
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.domain.names import check_person_name
from ep_web.domain.sessions import end_sessions
from ep_web.domain.webmail import is_webmail
from ep_web.extensions import db
from ep_web.inputs import coerce_id
from ep_web.models import Account, Convention, Partenaire, PartenaireType, Profile, SessionEnd

FIELDS = ("name", "siret", "address", "type", "members", "habilite_documents", "email_domains",
          "referent_name", "referent_email", "dpo_name", "dpo_email", "parent_id")
# SPEC §2 [1.2, 1.3]: tutelles, ASE and organismes dépositaires receive documents in the portal.
HABILITABLE_TYPES = {PartenaireType.MANDATAIRE, PartenaireType.ASE, PartenaireType.DEPOSITAIRE}


def clean_siret(raw: str | None) -> str | None:
    """SIRET is optional; when given it must be a valid 14-digit SIRET (Luhn) (SPEC §2)."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return siret_mod.validate(raw)
    except ValidationError:
        raise DomainError("SIRET invalide : 14 chiffres, vérifiez la saisie (exemple : 732 829 320 00074).",
                          "siret") from None


def clean_domains(raw: str) -> str:
    """SPEC §2-3 [2.2.1]: the registered professional e-mail domains, one per line,
    checked; a free webmail is not a structure's domain (ep_web.domain.webmail)."""
    out = []
    for token in (raw or "").replace(",", "\n").replace(";", "\n").split():
        domain = token.strip().lower().lstrip("@")
        if not domain:
            continue
        if "." not in domain or " " in domain or len(domain) > 253:
            raise DomainError(f"Domaine invalide : {token}. Exemple : ccas-maville.fr", "email_domains")
        if is_webmail(domain):
            raise DomainError(
                f"{domain} est une messagerie personnelle, pas le domaine de la structure : les comptes de la "
                "structure ne pourraient pas l'utiliser. Indiquez le domaine professionnel. Exemple : ccas-maville.fr",
                "email_domains")
        if domain not in out:
            out.append(domain)
    return "\n".join(out)


def _clean(data: dict) -> dict:
    out = dict(data)
    out["name"] = (data.get("name") or "").strip()
    if not out["name"]:
        raise DomainError("Indiquez le nom de la structure.", "name")
    try:
        out["type"] = PartenaireType(data.get("type"))
    except ValueError:
        raise DomainError("Choisissez le type de structure.", "type") from None
    try:
        out["members"] = int(data.get("members"))
    except (TypeError, ValueError):
        raise DomainError("Indiquez le nombre de membres (un nombre entier).", "members") from None
    if out["members"] < 1 or out["members"] > 100000:
        raise DomainError("Le nombre de membres doit être compris entre 1 et 100 000.", "members")
    out["siret"] = clean_siret(data.get("siret"))
    out["email_domains"] = clean_domains(data.get("email_domains") or "")
    for key in ("referent_email", "dpo_email"):
        value = (data.get(key) or "").strip()
        out[key] = normalize_email(value, key) if value else ""
    out["address"] = (data.get("address") or "").strip()
    for key in ("referent_name", "dpo_name"):
        out[key] = check_person_name(data.get(key), key)
    out["habilite_documents"] = bool(data.get("habilite_documents"))
    if out["habilite_documents"] and out["type"] not in HABILITABLE_TYPES:
        raise DomainError("Seuls les mandataires/tutelles, l'ASE et les organismes dépositaires peuvent être "
                          "habilités à recevoir les documents.", "habilite_documents")
    parent_id = data.get("parent_id")
    out["parent_id"] = coerce_id(parent_id) if parent_id not in (None, "", 0, "0") else None
    if parent_id not in (None, "", 0, "0") and out["parent_id"] is None:
        raise DomainError("Structure parente inconnue.", "parent_id")
    return {k: out[k] for k in FIELDS}


def _require_admin(actor: Account) -> None:
    if actor.profile != Profile.ADMIN_CAISSE:
        raise NotAllowed("Action réservée au référent partenariat de la caisse.")


def _check_parent(actor: Account, parent_id: int | None, self_id: int | None = None) -> None:
    if parent_id is None:
        return
    parent = db.session.get(Partenaire, parent_id)
    if parent is None or not caisse_knows(actor.caisse_id, parent.id) or parent.id == self_id:
        raise DomainError("Structure parente inconnue.", "parent_id")
    if parent.parent_id is not None:
        raise DomainError("Un site ne peut pas lui-même avoir des sites : choisissez la structure principale.",
                          "parent_id")


def create_partenaire(actor: Account, data: dict) -> Partenaire:
    """SPEC §2: a partner structure (or one site of a larger partner, with its
    own quotas). The caller creates its first convention in the same transaction."""
    _require_admin(actor)
    values = _clean(data)
    _check_parent(actor, values["parent_id"])
    partenaire = Partenaire(**values, created_at=now())
    db.session.add(partenaire)
    db.session.flush()
    audit.record("partenaire_created", actor, target=partenaire, partenaire_id=partenaire.id,
                 caisse_id=actor.caisse_id)
    return partenaire


def update_partenaire(actor: Account, partenaire: Partenaire, data: dict) -> list[str]:
    """Edit a partner's file; only a caisse with a convention in force with it.
    SPEC §2 sites are one level deep: a structure with sites cannot become a site."""
    _require_admin(actor)
    if not caisse_in_force(actor.caisse_id, partenaire.id):
        raise NotAllowed("Seule une caisse en convention avec la structure modifie sa fiche.")
    values = _clean(data)
    _check_parent(actor, values["parent_id"], self_id=partenaire.id)
    if values["parent_id"] is not None and partenaire.sites:
        raise DomainError("Cette structure a des sites : elle ne peut pas devenir elle-même le site d'une autre.",
                          "parent_id")
    changed = [k for k, v in values.items() if getattr(partenaire, k) != v]
    for k in changed:
        setattr(partenaire, k, values[k])
    db.session.flush()
    if changed:
        audit.record("partenaire_changed", actor, target=partenaire, partenaire_id=partenaire.id,
                     caisse_id=actor.caisse_id, fields=changed)
    return changed


def suspend(actor: Account, partenaire: Partenaire, reason: str) -> None:
    """SPEC §3 [4.1]: the caisse can suspend a whole partner's access; every
    session of its users ends (their rows end; the user loader also refuses
    the accounts of a suspended structure)."""
    _require_admin(actor)
    if not caisse_in_force(actor.caisse_id, partenaire.id):
        raise NotAllowed("Seule une caisse en convention avec la structure peut la suspendre.")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Indiquez le motif de la suspension.", "reason")
    if partenaire.is_suspended:
        raise DomainError("L'accès de cette structure est déjà suspendu.")
    partenaire.suspended_at = now()
    partenaire.suspended_reason = reason[:1000]
    db.session.flush()
    end_sessions(db.session.scalars(select(Account.id).where(Account.partenaire_id == partenaire.id)).all(),
                 SessionEnd.INACTIVATED)
    audit.record("partenaire_suspended", actor, target=partenaire, partenaire_id=partenaire.id,
                 caisse_id=actor.caisse_id, reason=partenaire.suspended_reason)


def unsuspend(actor: Account, partenaire: Partenaire) -> None:
    """SPEC §3 [4.1]: a caisse in convention with the structure lifts the suspension of its access."""
    _require_admin(actor)
    if not caisse_in_force(actor.caisse_id, partenaire.id):
        raise NotAllowed("Seule une caisse en convention avec la structure peut lever la suspension.")
    if not partenaire.is_suspended:
        raise DomainError("L'accès de cette structure n'est pas suspendu.")
    partenaire.suspended_at = None
    partenaire.suspended_reason = ""
    db.session.flush()
    audit.record("partenaire_unsuspended", actor, target=partenaire, partenaire_id=partenaire.id,
                 caisse_id=actor.caisse_id)


# ---------------------------------------------------------------- what a caisse sees

@dataclass
class PartenaireRow:
    """One partner of the caisse's list: the convention that matters and its seats."""

    partenaire: Partenaire
    convention: Convention
    seats: quotas.Seats


def for_caisse(caisse_id: int, q: str = "", on: date | None = None) -> list[PartenaireRow]:
    """SPEC §2, §8: the partners holding (or having held) a convention with the
    caisse — it keeps seeing their file after the end — each with the convention
    that matters (the one in force, else the latest) and its SPEC §3 quotas.
    ``q`` filters on the name (case-insensitive, taken literally)."""
    on = on or today()
    stmt = (
        select(Convention)
        .join(Partenaire, Partenaire.id == Convention.partenaire_id)
        .where(Convention.caisse_id == caisse_id)
        .options(contains_eager(Convention.partenaire).selectinload(Partenaire.parent))
    )
    if q:
        stmt = stmt.where(func.lower(Partenaire.name).contains(q.lower(), autoescape=True))
    best: dict[int, Convention] = {}
    for conv in db.session.scalars(stmt):
        current = best.get(conv.partenaire_id)
        key = (conv.is_in_force(on), conv.ends_on, conv.id)
        if current is None or key > (current.is_in_force(on), current.ends_on, current.id):
            best[conv.partenaire_id] = conv
    seats = quotas.seats_by_partenaire(conv.partenaire for conv in best.values())
    rows = [PartenaireRow(conv.partenaire, conv, seats[conv.partenaire_id]) for conv in best.values()]
    return sorted(rows, key=lambda r: (r.partenaire.name.lower(), r.partenaire.id))


def parent_choices(caisse_id: int, exclude_id: int | None = None) -> list[Partenaire]:
    """SPEC §2 sites: a site's parent is a main structure (not itself a site)
    known to the caisse."""
    known = select(Convention.partenaire_id).where(Convention.caisse_id == caisse_id)
    stmt = select(Partenaire).where(Partenaire.id.in_(known), Partenaire.parent_id.is_(None)).order_by(Partenaire.name)
    return [p for p in db.session.scalars(stmt) if p.id != exclude_id]


def conventions_with(caisse_id: int, partenaire_id: int) -> list[Convention]:
    """SPEC §2: every convention between the caisse and the partner, latest first."""
    return list(db.session.scalars(
        select(Convention)
        .where(Convention.partenaire_id == partenaire_id, Convention.caisse_id == caisse_id)
        .order_by(Convention.signed_on.desc(), Convention.id.desc())
    ))


def sites_known_to(caisse_id: int, partenaire: Partenaire) -> list[Partenaire]:
    """SPEC §2, §8: the partner's sites the caisse has a convention with (the
    others are another caisse's business)."""
    known = select(Convention.partenaire_id).where(Convention.caisse_id == caisse_id)
    return list(db.session.scalars(
        select(Partenaire)
        .where(Partenaire.parent_id == partenaire.id, Partenaire.id.in_(known))
        .order_by(Partenaire.name)
    ))
