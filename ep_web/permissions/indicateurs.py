"""Who reads which indicators (SPEC §7-8): a caisse its partners' figures at
that caisse, national every caisse, a gestionnaire its own structure's at the
caisses it holds a convention with. Anything else is a 404."""
from flask import abort
from flask_login import current_user

from ep_web.domain.indicators import can_read
from ep_web.extensions import db
from ep_web.models import Caisse, Convention, InformationSession, Partenaire, Profile, Resource


def get_indicator_scope_or_404(convention_id: int) -> tuple[Caisse, Partenaire]:
    """The caisse and the partner of a convention whose indicators the user reads
    (the figures are the pair's, over every convention between them)."""
    convention = db.session.get(Convention, convention_id)
    if convention is None or not can_read(current_user, convention.caisse_id, convention.partenaire_id):
        abort(404)
    return convention.caisse, convention.partenaire


def can_manage_sessions(account, caisse: Caisse) -> bool:
    """SPEC §7: the information sessions are entered by the caisse's referent."""
    return account.profile == Profile.ADMIN_CAISSE and account.caisse_id == caisse.id


def get_session_or_404(caisse: Caisse, partenaire: Partenaire, session_id: int) -> InformationSession:
    session = db.session.get(InformationSession, session_id)
    if session is None or session.caisse_id != caisse.id or session.partenaire_id != partenaire.id:
        abort(404)
    return session


def get_caisse_scope_or_404(caisse_id: int | None) -> Caisse | None:
    """The caisse whose statistics are asked for: admin_caisse its own only
    (None means its own), national any one (None: all caisses together)."""
    if current_user.profile == Profile.ADMIN_CAISSE:
        if caisse_id not in (None, current_user.caisse_id):
            abort(404)
        return db.session.get(Caisse, current_user.caisse_id)
    if caisse_id is None:
        return None
    from ep_web.inputs import coerce_id

    # An id from the query string: one the database can hold, or a 404.
    bounded = coerce_id(caisse_id)
    caisse = db.session.get(Caisse, bounded) if bounded else None
    if caisse is None:
        abort(404)
    return caisse


def can_read_resource(account, resource: Resource) -> bool:
    """SPEC §6: partner users read national's resources and those of the
    caisses their structure holds a convention in force with; a caisse its
    own and national's; national every one."""
    from ep_web.domain.resources import visible_caisse_ids

    if resource.caisse_id is None:
        return True
    ids = visible_caisse_ids(account)
    return ids is None or resource.caisse_id in ids


def get_resource_or_404(resource_id: int) -> Resource:
    resource = db.session.get(Resource, resource_id)
    if resource is None or not can_read_resource(current_user, resource):
        abort(404)
    return resource


def can_manage_resource(account, resource: Resource) -> bool:
    """National manages national's resources, a caisse's referent its caisse's."""
    if resource.caisse_id is None:
        return account.profile == Profile.ADMIN_NATIONAL
    return account.profile == Profile.ADMIN_CAISSE and account.caisse_id == resource.caisse_id


def get_managed_resource_or_404(resource_id: int) -> Resource:
    resource = db.session.get(Resource, resource_id)
    if resource is None or not can_manage_resource(current_user, resource):
        abort(404)
    return resource
