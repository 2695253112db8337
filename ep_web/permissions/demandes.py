"""Who sees a demande and its files (SPEC §4, §8)."""
from flask import abort
from flask_login import current_user

from ep_web.domain.access import conventions_in_force
from ep_web.extensions import db
from ep_web.models import Account, Attachment, Demande, Profile, Service


def can_view_demande(user: Account, demande: Demande) -> bool:
    """SPEC §4 History, §3 end of convention: techniciens see every demande of
    their structure to a caisse still in convention; agents see their caisse's
    demandes (the caisse keeps its file after the end)."""
    if user.profile == Profile.TECHNICIEN:
        return demande.partenaire_id == user.partenaire_id and any(
            c.caisse_id == demande.caisse_id for c in conventions_in_force(user.partenaire_id))
    if user.profile == Profile.AGENT:
        return demande.caisse_id == user.caisse_id
    return False


def get_demande_or_404(demande_id: int) -> Demande:
    """A demande the current user may not see does not exist for them (SPEC §8)."""
    demande = db.session.get(Demande, demande_id)
    if demande is None or not can_view_demande(current_user, demande):
        abort(404)
    return demande


def get_attachment_or_404(demande: Demande, attachment_id: int) -> Attachment:
    """A file of that demande (the demande was loaded by get_demande_or_404)."""
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.demande_id != demande.id:
        abort(404)
    return attachment


def get_service_or_404(service: str) -> str:
    """A service named in the URL (SPEC §4 table); an unknown one is a 404."""
    if service not in Service._value2member_map_:
        abort(404)
    return service


def get_draft_or_404(draft_id: int):
    """A draft is its author's only (SPEC §8): anyone else's is a 404."""
    draft = own_draft(current_user, draft_id)
    if draft is None:
        abort(404)
    return draft


def own_draft(account, draft_id):
    """The draft a form names (``draft_id``), if it is ``account``'s own; None otherwise."""
    from ep_web.inputs import coerce_id
    from ep_web.models import DemandeDraft

    draft_id = coerce_id(draft_id)
    draft = db.session.get(DemandeDraft, draft_id) if draft_id else None
    return draft if draft is not None and draft.author_id == account.id else None
