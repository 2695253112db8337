"""Audit log (SPEC §7): every security-relevant action, append-only."""
from sqlalchemy import insert

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models import Account, AuditEvent

# The actions written; labels for the admin search page.
ACTIONS = {
    "login": "Connexion",
    "login_failed": "Échec de connexion",
    "login_locked": "Compte verrouillé (trop d'échecs)",
    "logout": "Déconnexion",
    "account_created": "Compte créé",
    "account_activated": "Compte activé",
    "account_changed": "Compte modifié",
    "account_inactivated": "Compte inactivé",
    "account_reactivated": "Compte réactivé",
    "account_inactivation_scheduled": "Inactivation programmée",
    "account_deleted": "Compte supprimé",
    "misuse_reported": "Usage frauduleux signalé",
    "password_changed": "Mot de passe changé",
    "password_reset_requested": "Réinitialisation demandée",
    "cgu_accepted": "CGU acceptées",
    "partenaire_created": "Partenaire créé",
    "partenaire_changed": "Partenaire modifié",
    "partenaire_suspended": "Partenaire suspendu",
    "partenaire_unsuspended": "Suspension levée",
    "convention_created": "Convention créée",
    "convention_changed": "Convention modifiée",
    "caisse_created": "Caisse créée",
    "caisse_changed": "Caisse modifiée",
    "activation_resent": "Lien d'activation renvoyé",
    "request_filed": "Demande à la caisse déposée",
    "request_handled": "Demande à la caisse traitée",
    "review_opened": "Revue des habilitations ouverte",
    "review_answered": "Revue des habilitations : réponse",
    "export": "Export",
    "document_downloaded": "Document téléchargé",
    "email_resent": "E-mail renvoyé",
}


def record(
    action: str,
    actor: Account | None = None,
    *,
    target: object | None = None,
    caisse_id: int | None = None,
    partenaire_id: int | None = None,
    ip: str = "",
    actor_login: str = "",
    **details,
) -> AuditEvent:
    """Write one audit event in the current transaction. ``details`` must never
    hold an insured person's data (SPEC §7)."""
    assert action in ACTIONS, action
    event = AuditEvent(
        at=now(),
        action=action,
        actor_id=actor.id if actor is not None else None,
        actor_login=actor.login if actor is not None else actor_login,
        target_type=type(target).__tablename__ if target is not None else "",
        target_id=getattr(target, "id", None),
        caisse_id=caisse_id if caisse_id is not None else getattr(target, "caisse_id", None),
        partenaire_id=partenaire_id if partenaire_id is not None else getattr(target, "partenaire_id", None),
        ip=ip,
        details=details,
    )
    db.session.add(event)
    return event


def record_many(action: str, rows, actor: Account | None = None, **details) -> int:
    """SPEC §7: the same event for many targets at once (the set-based rules),
    in one INSERT. ``rows`` are (target_type, target_id, caisse_id,
    partenaire_id, extra details). Without an actor, the event is marked
    ``automatic`` (a scheduled rule did it)."""
    assert action in ACTIONS, action
    if not rows:
        return 0
    at = now()
    if actor is None:
        details = {**details, "automatic": True}
    db.session.execute(
        insert(AuditEvent),
        [
            {
                "at": at,
                "action": action,
                "actor_id": actor.id if actor is not None else None,
                "actor_login": actor.login if actor is not None else "",
                "target_type": target_type,
                "target_id": target_id,
                "caisse_id": caisse_id,
                "partenaire_id": partenaire_id,
                "ip": "",
                "details": {**details, **extra},
            }
            for target_type, target_id, caisse_id, partenaire_id, extra in rows
        ],
    )
    return len(rows)
