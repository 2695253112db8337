"""Drafts of demandes (SPEC §8: nothing the user typed is lost; SPEC §4: never
a NIR stored). A draft holds what a technicien typed in the form of one
service, saved as they type and when a submission arrives after their session
ended; it is resumed, deleted, or consumed by the demande it became. Purged
DRAFT_DAYS after its last change. Like every domain module, this flushes and
never commits."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from ep_web.clock import now
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.domain.textguard import find_nirs
from ep_web.extensions import db
from ep_web.models import Account, DemandeDraft, Profile, Service

DRAFT_DAYS = 30
MAX_DRAFTS = 50
MAX_LEN = 4000
# What a draft keeps: the form's typed fields (never files, never the confirmations).
FIELDS = ("caisse_id", "civilite", "nom", "prenom", "date_naissance", "departement", "subject", "kind",
          "filed_on", "difficulty_kinds", "consent", "urgent", "urgency_reason", "urgency_detail", "reason",
          "slots", "channel", "document_kind", "document_other", "message")
LISTS = ("difficulty_kinds",)
LABELS = {"nom": "Nom", "prenom": "Prénom", "subject": "Objet", "urgency_detail": "Précisions sur l'urgence",
          "reason": "Motif du rendez-vous", "slots": "Créneaux", "document_other": "Document",
          "message": "Message", "departement": "Département", "date_naissance": "Date de naissance",
          "filed_on": "Date de dépôt"}


def _clean(values) -> tuple[dict, list[str]]:
    """The fields a draft may keep, bounded; a field holding a NIR is left out
    (its name is returned, so that the person is told)."""
    data, refused = {}, []
    for name in FIELDS:
        if name in LISTS:
            raw = [str(v)[:100] for v in (values.getlist(name) if hasattr(values, "getlist") else
                                          values.get(name) or [])][:20]
        else:
            raw = str(values.get(name) or "")[:MAX_LEN]
        texts = raw if isinstance(raw, list) else [raw]
        if any(find_nirs(t) for t in texts):
            refused.append(name)
            continue
        if raw:
            data[name] = raw
    return data, refused


def _check_author(author: Account) -> None:
    if author.profile != Profile.TECHNICIEN or author.partenaire_id is None:
        raise NotAllowed("Seuls les techniciens d'une structure écrivent des demandes.")


def save(author: Account, service: str, values, draft: DemandeDraft | None = None) -> tuple[DemandeDraft, list[str]]:
    """SPEC §8: keep what is typed in a demande form, as a new draft or into
    ``draft`` (the author's own: see ep_web.permissions.demandes). Returns the
    draft and the fields left out because they hold a NIR (SPEC §4)."""
    _check_author(author)
    if service not in {s.value for s in Service}:
        raise DomainError("Service inconnu.")
    data, refused = _clean(values)
    if draft is None:
        count = db.session.scalar(select(db.func.count(DemandeDraft.id)).where(DemandeDraft.author_id == author.id))
        if count >= MAX_DRAFTS:
            raise DomainError(f"Vous avez déjà {MAX_DRAFTS} brouillons : envoyez ou supprimez-en avant d'en "
                              "commencer un autre.")
        draft = DemandeDraft(author_id=author.id, partenaire_id=author.partenaire_id, service=service,
                             created_at=now())
        db.session.add(draft)
    draft.service = service
    draft.data = data
    draft.updated_at = now()
    db.session.flush()
    return draft, refused


def of(author: Account) -> list[DemandeDraft]:
    """The author's drafts, latest first (a draft is personal: SPEC §8)."""
    return list(db.session.scalars(select(DemandeDraft).where(DemandeDraft.author_id == author.id)
                                   .order_by(DemandeDraft.updated_at.desc(), DemandeDraft.id.desc())))


def count_select(author_id):
    """The number of drafts of ``author_id`` (a value, or a bound parameter in
    a larger statement: domain.home)."""
    return select(db.func.count(DemandeDraft.id)).where(DemandeDraft.author_id == author_id)


def count(author: Account) -> int:
    return db.session.scalar(count_select(author.id)) or 0


def discard(author: Account, draft: DemandeDraft) -> None:
    if draft.author_id != author.id:
        raise NotAllowed("Ce brouillon n'est pas le vôtre.")
    db.session.delete(draft)
    db.session.flush()


def purge() -> int:
    """Drafts untouched for DRAFT_DAYS days are deleted (SPEC §7: data kept only as long as needed)."""
    cutoff = now() - timedelta(days=DRAFT_DAYS)
    return db.session.execute(delete(DemandeDraft).where(DemandeDraft.updated_at < cutoff)
                              .execution_options(synchronize_session=False)).rowcount or 0


def expires_on(draft: DemandeDraft):
    return (draft.updated_at + timedelta(days=DRAFT_DAYS)).date()
