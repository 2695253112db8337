"""Conventions between a partner and a caisse (SPEC §2, §3 end of convention)."""
from datetime import date, timedelta

from sqlalchemy import select

from ep_web.clock import now, today
from ep_web.domain import audit
from ep_web.domain.calendar import one_year_after
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.domain.lifecycle import apply_end_of_conventions
from ep_web.extensions import db
from ep_web.models import LIVE_STATES, Account, Convention, ConventionState, Partenaire, Profile, Service


def _require_admin_of(actor: Account, caisse_id: int) -> None:
    if actor.profile != Profile.ADMIN_CAISSE or actor.caisse_id != caisse_id:
        raise NotAllowed("Action réservée au référent partenariat de la caisse.")


def parse_services(values) -> list[str]:
    """SPEC §2: the services the caisse enables, known values only, each once."""
    out = []
    for v in values or []:
        if v not in Service._value2member_map_:
            raise DomainError(f"Service inconnu : {v}", "services")
        if v not in out:
            out.append(v)
    return out


def create_convention(
    actor: Account,
    partenaire: Partenaire,
    *,
    signed_on: date,
    ends_on: date | None = None,
    services=(),
    tacit_renewal: bool = True,
) -> Convention:
    """SPEC §2: one convention between one partner and the actor's caisse; end date
    one year after signature by default; services enabled by the caisse. A
    partner holds at most one convention in force with a given caisse."""
    _require_admin_of(actor, actor.caisse_id)
    ends_on = ends_on or one_year_after(signed_on)
    if ends_on <= signed_on:
        raise DomainError("La date de fin doit être postérieure à la date de signature.", "ends_on")
    overlapping = db.session.scalar(
        select(Convention.id).where(
            Convention.partenaire_id == partenaire.id,
            Convention.caisse_id == actor.caisse_id,
            Convention.state.in_(LIVE_STATES),
            Convention.ends_on >= signed_on,
        )
    )
    if overlapping:
        raise DomainError("Une convention en cours existe déjà avec cette structure : renouvelez-la plutôt.",
                          "signed_on")
    conv = Convention(
        partenaire_id=partenaire.id,
        caisse_id=actor.caisse_id,
        signed_on=signed_on,
        ends_on=ends_on,
        services=parse_services(services),
        tacit_renewal=tacit_renewal,
        state=ConventionState.ACTIVE,
    )
    db.session.add(conv)
    db.session.flush()
    audit.record("convention_created", actor, target=conv, partenaire_id=partenaire.id, caisse_id=actor.caisse_id)
    return conv


def set_services(actor: Account, conv: Convention, services) -> None:
    """SPEC §2: services are 'activables, ou pas, par la caisse'."""
    _require_admin_of(actor, conv.caisse_id)
    if not conv.is_live:
        raise DomainError("Cette convention est terminée : ses services ne peuvent plus changer.", "services")
    conv.services = parse_services(services)
    db.session.flush()
    audit.record("convention_changed", actor, target=conv, change="services", services=conv.services)


def renew(actor: Account, conv: Convention) -> None:
    """Renew for one more year from the current end date (express renewal, also
    withdraws a denunciation) (SPEC §2)."""
    _require_admin_of(actor, conv.caisse_id)
    if not conv.is_live:
        raise DomainError("Une convention terminée ou résiliée ne se renouvelle pas : créez-en une nouvelle.")
    conv.ends_on = one_year_after(conv.ends_on)
    conv.state = ConventionState.ACTIVE
    db.session.flush()
    audit.record("convention_changed", actor, target=conv, change="renewed", ends_on=conv.ends_on.isoformat())


def denounce(actor: Account, conv: Convention) -> None:
    """SPEC §2: a denounced convention is not renewed and ends at its end date."""
    _require_admin_of(actor, conv.caisse_id)
    if conv.state != ConventionState.ACTIVE:
        raise DomainError("Seule une convention active peut être dénoncée.")
    conv.state = ConventionState.DENONCEE
    conv.tacit_renewal = False
    db.session.flush()
    audit.record("convention_changed", actor, target=conv, change="denounced")


def terminate(actor: Account | None, conv: Convention, *, resiliation: bool = False, reason: str = "") -> int:
    """SPEC §2-3: end a convention now (résiliation) or at its term (terminée),
    then apply the end-of-convention rule (lifecycle.apply_end_of_conventions,
    the same as the nightly run). Returns the number of accounts inactivated."""
    if actor is not None:
        _require_admin_of(actor, conv.caisse_id)
    if not conv.is_live:
        raise DomainError("Cette convention est déjà terminée.")
    conv.state = ConventionState.RESILIEE if resiliation else ConventionState.TERMINEE
    conv.ended_at = now()
    conv.end_reason = reason
    if conv.ends_on > today():
        conv.ends_on = today() - timedelta(days=1) if conv.signed_on < today() else conv.signed_on
    db.session.flush()
    audit.record("convention_changed", actor, target=conv, change=conv.state.value, reason=reason)
    return apply_end_of_conventions(partenaire_id=conv.partenaire_id, actor=actor)
