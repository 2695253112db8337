"""The partnership's shared resources (SPEC §6, seeds 003-004): national
publishes documents for every caisse, each caisse its own (leaflets, posters,
links, the signalement aids, the operational documentation of the portal).
Partner users read national's and those of the caisses their structure holds
a convention in force with; files are stored and virus-scanned like any
upload (ep_web.domain.attachments); whoever asked is told by e-mail of a new
resource or a new version (title and link only)."""
from __future__ import annotations

from datetime import date
from urllib.parse import urlparse

from sqlalchemy import delete, or_, select

from ep_web.clock import now, today
from ep_web.domain import attachments, audit
from ep_web.domain.access import conventions_in_force
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.mail import queue_email
from ep_web.models import Account, AccountStatus, Attachment, Caisse, Profile, Resource, ResourceSubscription

CATEGORIES = {
    "documentation": "Documentation opérationnelle du portail",
    "signalement": "Aide au signalement de renoncement aux soins",
    "communication": "Supports de communication (dépliants, affiches)",
    "guide": "Guides et fiches pratiques",
    "lien": "Liens utiles",
    "autre": "Autre",
}
PARTNER_PROFILES = (Profile.TECHNICIEN, Profile.GESTIONNAIRE)


def visible_caisse_ids(account: Account) -> list[int] | None:
    """The caisses whose resources ``account`` reads besides national's (None: all)."""
    if account.profile == Profile.ADMIN_NATIONAL:
        return None
    if account.profile in PARTNER_PROFILES:
        return sorted({c.caisse_id for c in conventions_in_force(account.partenaire_id)}) if account.partenaire_id \
            else []
    return [account.caisse_id] if account.caisse_id else []


def _visible(stmt, account: Account):
    ids = visible_caisse_ids(account)
    if ids is None:
        return stmt
    return stmt.where(or_(Resource.caisse_id.is_(None), Resource.caisse_id.in_(ids)))


def list_for(account: Account, category: str = "") -> list[Resource]:
    """SPEC §6: the resources ``account`` reads, newest first within each category."""
    stmt = _visible(select(Resource), account)
    if category in CATEGORIES:
        stmt = stmt.where(Resource.category == category)
    return list(db.session.scalars(stmt.order_by(Resource.category, Resource.published_on.desc(), Resource.id.desc())))


def managed_by(account: Account) -> list[Resource]:
    stmt = select(Resource).order_by(Resource.published_on.desc(), Resource.id.desc())
    if account.profile == Profile.ADMIN_NATIONAL:
        return list(db.session.scalars(stmt.where(Resource.caisse_id.is_(None))))
    if account.profile == Profile.ADMIN_CAISSE:
        return list(db.session.scalars(stmt.where(Resource.caisse_id == account.caisse_id)))
    return []


def _publisher_caisse(actor: Account) -> int | None:
    if actor.profile == Profile.ADMIN_NATIONAL:
        return None
    if actor.profile == Profile.ADMIN_CAISSE and actor.caisse_id:
        return actor.caisse_id
    raise NotAllowed("Seuls l'administration nationale et les référents des caisses publient des ressources.")


def _clean(title: str, description: str, category: str, url: str, version: str, published_on) -> dict:
    title, description, url, version = (title or "").strip(), (description or "").strip(), (url or "").strip(), \
        (version or "").strip()
    if not title:
        raise DomainError("Indiquez le titre de la ressource.", "title")
    if len(title) > 200:
        raise DomainError("Le titre tient en 200 caractères au plus.", "title")
    if len(description) > 2000:
        raise DomainError("La description tient en 2 000 caractères au plus.", "description")
    if category not in CATEGORIES:
        raise DomainError("Choisissez une catégorie dans la liste.", "category")
    if url:
        parsed = urlparse(url)
        if parsed.scheme not in ("https", "http") or not parsed.netloc or len(url) > 500:
            raise DomainError("Lien invalide : une adresse complète, par exemple https://www.ameli.fr/…", "url")
    if not version:
        raise DomainError("Indiquez la version (par exemple 1, 2025-03 ou v2).", "version")
    if len(version) > 30:
        raise DomainError("La version tient en 30 caractères au plus.", "version")
    if not isinstance(published_on, date):
        raise DomainError("Indiquez la date de la version, au format JJ/MM/AAAA.", "published_on")
    if published_on > today():
        raise DomainError("La date de la version ne peut pas être dans le futur.", "published_on")
    return dict(title=title, description=description, category=category, url=url, version=version,
                published_on=published_on)


def _file_or_link(files, url: str, *, required: bool) -> list:
    prepared = attachments.validate_uploads(files, 0, allowed=("pdf", "jpeg", "png"), field="file") if files else []
    if len(prepared) > 1:
        raise DomainError("Une ressource a un seul fichier.", "file")
    if prepared and url:
        for p in prepared:
            p.close()
        raise DomainError("Choisissez un fichier ou un lien, pas les deux.", "url")
    if required and not prepared and not url:
        raise DomainError("Joignez un fichier (PDF, JPEG ou PNG) ou indiquez un lien.", "file")
    return prepared


def publish(actor: Account, *, title, description, category, url, version, published_on, files=()) -> Resource:
    """SPEC §6: national or a caisse's referent publishes a resource (a file,
    scanned like any upload, or a link); subscribers are told by e-mail."""
    caisse_id = _publisher_caisse(actor)
    data = _clean(title, description, category, url, version, published_on)
    prepared = _file_or_link(list(files or []), data["url"], required=True)
    resource = Resource(caisse_id=caisse_id, created_by_id=actor.id, created_at=now(), updated_at=now(), **data)
    db.session.add(resource)
    db.session.flush()
    for p in prepared:
        attachments.store(p, uploader=actor, resource=resource, from_caisse=True)
    audit.record("resource_published", actor, target=resource, caisse_id=caisse_id, version=resource.version)
    _notify(resource, new=True)
    return resource


def new_version(actor: Account, resource: Resource, *, version, published_on, description=None, url="",
                files=()) -> Resource:
    """A new version of a resource: its version and date change, and its file
    or link when a new one is given; subscribers are told."""
    if _publisher_caisse(actor) != resource.caisse_id:
        raise NotAllowed("Vous ne pouvez modifier que les ressources que vous publiez.")
    if (version or "").strip() == resource.version:
        raise DomainError("Indiquez un numéro de version différent de l'actuel.", "version")
    data = _clean(resource.title, resource.description if description is None else description, resource.category,
                  url or resource.url, version, published_on)
    prepared = _file_or_link(list(files or []), url.strip() if url else "", required=False)
    if prepared or url:
        # The old file's row goes; its file is removed by the orphan sweep once this commits.
        db.session.execute(delete(Attachment).where(Attachment.resource_id == resource.id)
                           .execution_options(synchronize_session=False))
        data["url"] = url.strip() if url else ""
    for key in ("description", "url", "version", "published_on"):
        setattr(resource, key, data[key])
    resource.updated_at = now()
    db.session.flush()
    for p in prepared:
        attachments.store(p, uploader=actor, resource=resource, from_caisse=True)
    db.session.expire(resource, ["attachment"])
    audit.record("resource_published", actor, target=resource, caisse_id=resource.caisse_id, version=resource.version)
    _notify(resource, new=False)
    return resource


def withdraw(actor: Account, resource: Resource) -> None:
    """The publisher withdraws a resource (its file is removed by the orphan sweep)."""
    if _publisher_caisse(actor) != resource.caisse_id:
        raise NotAllowed("Vous ne pouvez retirer que les ressources que vous publiez.")
    audit.record("resource_deleted", actor, caisse_id=resource.caisse_id, resource_id=resource.id)
    db.session.execute(delete(Attachment).where(Attachment.resource_id == resource.id)
                       .execution_options(synchronize_session=False))
    db.session.delete(resource)
    db.session.flush()


def is_subscribed(account: Account) -> bool:
    return db.session.get(ResourceSubscription, account.id) is not None


def set_subscription(account: Account, subscribed: bool) -> None:
    """« Me prévenir des nouvelles versions »: an e-mail for each new resource
    or version the account may read (SPEC §6)."""
    row = db.session.get(ResourceSubscription, account.id)
    if subscribed and row is None:
        db.session.add(ResourceSubscription(account_id=account.id, created_at=now()))
    elif not subscribed and row is not None:
        db.session.delete(row)
    db.session.flush()


def _notify(resource: Resource, *, new: bool) -> int:
    """E-mail the active subscribers who may read the resource: its title,
    version and link only (SPEC §8: no personal data)."""
    from ep_web.permissions.indicateurs import can_read_resource

    accounts = db.session.scalars(select(Account).join(ResourceSubscription, ResourceSubscription.account_id ==
                                                       Account.id).where(Account.status == AccountStatus.ACTIVE))
    publisher = db.session.get(Caisse, resource.caisse_id).name if resource.caisse_id else "L'Assurance Maladie"
    subject = (f"Nouvelle ressource : {resource.title}" if new
               else f"Nouvelle version de « {resource.title} » ({resource.version})")
    sent = 0
    for account in accounts:
        if account.email and can_read_resource(account, resource):
            queue_email(account.email, "resource_published", subject, recipient=account, resource=resource,
                        new=new, publisher=publisher)
            sent += 1
    return sent


def record_download(actor: Account, resource: Resource) -> None:
    audit.record("document_downloaded", actor, target=resource, caisse_id=resource.caisse_id,
                 resource_id=resource.id)
