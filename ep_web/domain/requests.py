"""Gestionnaire requests from a partner to its caisse (SPEC §3 [2.2.1-2.2.3]).

A gestionnaire asks for a new gestionnaire, a change to a gestionnaire's data,
or a gestionnaire's inactivation on a date at least 15 days away. The caisse
must act within 5 working days (French public holidays excluded)."""
from datetime import date, timedelta

from sqlalchemy import select

from ep_web.clock import now, today
from ep_web.domain import audit
from ep_web.domain.access import caisse_in_force
from ep_web.domain.accounts import (
    check_professional_email,
    clean_identity,
    create_gestionnaire,
    modify_gestionnaire,
    schedule_gestionnaire_inactivation,
    staying_gestionnaires,
)
from ep_web.domain.calendar import add_working_days
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.domain.textguard import check_texts
from ep_web.extensions import db
from ep_web.inputs import coerce_id
from ep_web.mail import queue_email
from ep_web.models import (
    Account,
    AccountStatus,
    Caisse,
    GestionnaireRequest,
    Profile,
    RequestKind,
    RequestStatus,
)

CAISSE_DEADLINE_WORKING_DAYS = 5
INACTIVATION_NOTICE_DAYS = 15


def deadline_for(filed_on: date) -> date:
    """SPEC §3: the caisse acts within 5 working days of the partner's request."""
    return add_working_days(filed_on, CAISSE_DEADLINE_WORKING_DAYS)


def _check_filer(actor: Account, caisse: Caisse) -> None:
    if actor.profile != Profile.GESTIONNAIRE or actor.status != AccountStatus.ACTIVE:
        raise NotAllowed("Seul un gestionnaire de la structure dépose ces demandes.")
    if not caisse_in_force(caisse.id, actor.partenaire_id):
        raise DomainError("Votre structure n'a pas de convention en cours avec cette caisse.", "caisse_id")


def _target(actor: Account, target_id) -> Account:
    target_id = coerce_id(target_id)
    target = db.session.get(Account, target_id) if target_id else None
    if (
        target is None
        or target.profile != Profile.GESTIONNAIRE
        or target.partenaire_id != actor.partenaire_id
        or target.status not in (AccountStatus.ACTIVE, AccountStatus.PENDING)
    ):
        raise DomainError("Choisissez un gestionnaire actif de votre structure.", "target_id")
    return target


def _pending_same(kind: RequestKind, partenaire_id: int, target_id: int | None) -> bool:
    q = select(GestionnaireRequest.id).where(
        GestionnaireRequest.kind == kind,
        GestionnaireRequest.partenaire_id == partenaire_id,
        GestionnaireRequest.status == RequestStatus.PENDING,
    )
    if target_id is not None:
        q = q.where(GestionnaireRequest.target_account_id == target_id)
    return db.session.scalar(q.limit(1)) is not None


def _pending_departures(partenaire_id: int) -> set[int]:
    """The gestionnaires whose inactivation the structure asked for, not yet handled."""
    return set(db.session.scalars(select(GestionnaireRequest.target_account_id).where(
        GestionnaireRequest.partenaire_id == partenaire_id, GestionnaireRequest.kind == RequestKind.INACTIVATION,
        GestionnaireRequest.status == RequestStatus.PENDING)))


def file_request(
    actor: Account,
    caisse: Caisse,
    kind: RequestKind,
    *,
    data: dict | None = None,
    target_id: int | None = None,
    wished_date: date | None = None,
    comment: str = "",
) -> GestionnaireRequest:
    """File a request to the caisse; its deadline is 5 working days later.

    - creation / modification carry the SPEC §3 fields (civilité, nom, prénom,
      fonction, téléphone, e-mail), e-mail professional;
    - inactivation needs a date at least 15 days away, and is refused unless
      another gestionnaire stays: created (even if not yet activated), neither
      scheduled to leave nor the target of another pending departure (SPEC §3
      [2.2.3]); whether one is *active* on the date is checked when it applies."""
    _check_filer(actor, caisse)
    check_texts({"comment": comment})  # SPEC §4: no NIR in any text the partner types
    payload: dict = {}
    target = None
    if kind in (RequestKind.CREATION, RequestKind.MODIFICATION):
        payload = clean_identity(data or {}, require_phone=True)
        payload["email"] = check_professional_email(payload["email"], actor.partenaire)
    if kind in (RequestKind.MODIFICATION, RequestKind.INACTIVATION):
        target = _target(actor, target_id)
        if _pending_same(kind, actor.partenaire_id, target.id):
            raise DomainError("Une demande identique est déjà en attente pour ce gestionnaire.", "target_id")
    if kind == RequestKind.INACTIVATION:
        if wished_date is None:
            raise DomainError("Indiquez la date souhaitée d'inactivation.", "wished_date")
        earliest = today() + timedelta(days=INACTIVATION_NOTICE_DAYS)
        if wished_date < earliest:
            raise DomainError(
                f"La demande doit être faite au moins {INACTIVATION_NOTICE_DAYS} jours avant la date souhaitée : "
                f"choisissez le {earliest.strftime('%d/%m/%Y')} ou plus tard.",
                "wished_date",
            )
        leaving = _pending_departures(actor.partenaire_id)
        if not [g for g in staying_gestionnaires(actor.partenaire_id, target.id) if g.id not in leaving]:
            raise DomainError(
                "Ce gestionnaire est le seul qui reste dans votre structure : demandez d'abord à la caisse la "
                "création d'un remplaçant (il pourra activer son compte ensuite).",
                "target_id",
            )
    req = GestionnaireRequest(
        partenaire_id=actor.partenaire_id,
        caisse_id=caisse.id,
        kind=kind,
        status=RequestStatus.PENDING,
        target_account_id=target.id if target else None,
        payload=payload,
        wished_date=wished_date if kind == RequestKind.INACTIVATION else None,
        comment=(comment or "").strip()[:2000],
        requested_by_id=actor.id,
        created_at=now(),
        deadline=deadline_for(today()),
    )
    db.session.add(req)
    db.session.flush()
    audit.record("request_filed", actor, target=req, kind=kind.value)
    queue_email(
        caisse.referent_email,
        "request_filed",
        "Nouvelle demande d'un partenaire sur l'Espace Partenaires",
        req=req,
        partenaire=actor.partenaire,
    )
    return req


def _require_handler(actor: Account, req: GestionnaireRequest) -> None:
    if actor.profile != Profile.ADMIN_CAISSE or actor.caisse_id != req.caisse_id:
        raise NotAllowed("Seule la caisse destinataire traite cette demande.")
    if req.status != RequestStatus.PENDING:
        raise DomainError("Cette demande a déjà été traitée.")


def _close(actor: Account, req: GestionnaireRequest, status: RequestStatus, response: str) -> None:
    req.status = status
    req.handled_by_id = actor.id
    req.handled_at = now()
    req.response = (response or "").strip()[:2000]
    db.session.flush()
    audit.record("request_handled", actor, target=req, outcome=status.value)
    requester = req.requested_by
    if requester is not None and requester.status == AccountStatus.ACTIVE:
        queue_email(
            requester.email,
            "request_handled",
            "Votre demande à la caisse a été traitée",
            req=req,
            recipient=requester,
        )


def accept_request(actor: Account, req: GestionnaireRequest, data: dict | None = None) -> Account | None:
    """The caisse carries the request out: creates the gestionnaire (from the
    partner's data, which the caisse may correct), applies the change, or
    schedules the inactivation on the wished date. Returns the account concerned (SPEC §3 [2.2.2, 2.2.3])."""
    _require_handler(actor, req)
    partenaire = req.partenaire
    if req.kind == RequestKind.CREATION:
        account = create_gestionnaire(actor, partenaire, data or req.payload)
    elif req.kind == RequestKind.MODIFICATION:
        account = req.target
        modify_gestionnaire(actor, account, data or req.payload)
    else:
        account = req.target
        schedule_gestionnaire_inactivation(actor, account, max(req.wished_date, today()))
    _close(actor, req, RequestStatus.DONE, "")
    return account


def refuse_request(actor: Account, req: GestionnaireRequest, response: str) -> None:
    """The caisse refuses, saying why (the gestionnaire is told by e-mail) (SPEC §3 [2.2.2])."""
    _require_handler(actor, req)
    if not (response or "").strip():
        raise DomainError("Indiquez au partenaire le motif du refus.", "response")
    check_texts({"response": response})
    _close(actor, req, RequestStatus.REFUSED, response)


def pending_for_caisse(caisse_id: int) -> list[GestionnaireRequest]:
    """The caisse's queue, oldest deadline first (SPEC §3: pending requests show their deadline)."""
    return list(
        db.session.scalars(
            select(GestionnaireRequest)
            .where(GestionnaireRequest.caisse_id == caisse_id, GestionnaireRequest.status == RequestStatus.PENDING)
            .order_by(GestionnaireRequest.deadline, GestionnaireRequest.id)
        )
    )


def file_request_to(actor: Account, caisse_id: int | None, kind: RequestKind, **kwargs) -> GestionnaireRequest:
    """:func:`file_request` to the caisse the gestionnaire chose by its id (SPEC §3:
    one of the caisses in convention with the partner)."""
    caisse_id = coerce_id(caisse_id)
    caisse = db.session.get(Caisse, caisse_id) if caisse_id else None
    if caisse is None:
        raise DomainError("Choisissez la caisse destinataire.", "caisse_id")
    return file_request(actor, caisse, kind, **kwargs)


def pending_from(caisse_id: int, partenaire_id: int) -> list[GestionnaireRequest]:
    """SPEC §3: the partner's requests the caisse still has to handle, deadline first."""
    return list(
        db.session.scalars(
            select(GestionnaireRequest)
            .where(GestionnaireRequest.caisse_id == caisse_id, GestionnaireRequest.partenaire_id == partenaire_id,
                   GestionnaireRequest.status == RequestStatus.PENDING)
            .order_by(GestionnaireRequest.deadline, GestionnaireRequest.id)
        )
    )


def handled_by_caisse(caisse_id: int, limit: int = 20) -> list[GestionnaireRequest]:
    """SPEC §3: the caisse's latest handled requests (done or refused), most recent first."""
    return list(
        db.session.scalars(
            select(GestionnaireRequest)
            .where(GestionnaireRequest.caisse_id == caisse_id, GestionnaireRequest.status != RequestStatus.PENDING)
            .order_by(GestionnaireRequest.handled_at.desc(), GestionnaireRequest.id.desc())
            .limit(limit)
        )
    )


def filed_by(partenaire_id: int) -> list[GestionnaireRequest]:
    """SPEC §3: every request the partner filed, to any caisse, latest first."""
    return list(
        db.session.scalars(
            select(GestionnaireRequest)
            .where(GestionnaireRequest.partenaire_id == partenaire_id)
            .order_by(GestionnaireRequest.created_at.desc(), GestionnaireRequest.id.desc())
        )
    )
