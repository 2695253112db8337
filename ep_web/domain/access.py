"""Who has access now (SPEC §3 end of convention): the conventions in force
between partners and caisses. A small module of its own, imported by the
accounts, conventions, demandes and permission rules alike."""
from datetime import date

from sqlalchemy import select

from ep_web.clock import today
from ep_web.extensions import db
from ep_web.models import LIVE_STATES, Convention


def in_force_filter(on: date):
    """SPEC §2-3: a convention is in force when active or denounced, signed and not past its end date."""
    return (
        Convention.state.in_(LIVE_STATES),
        Convention.signed_on <= on,
        Convention.ends_on >= on,
    )


def conventions_in_force(partenaire_id: int, on: date | None = None) -> list[Convention]:
    """SPEC §3 end of convention: the partner's conventions in force on ``on`` (today)."""
    on = on or today()
    return list(
        db.session.scalars(select(Convention).where(Convention.partenaire_id == partenaire_id, *in_force_filter(on)))
    )


def conventions_and_hidden(partenaire_id: int, on: date | None = None) -> tuple[list[Convention], list[int]]:
    """SPEC §3-4, in one query: the partner's conventions in force on ``on``
    (today), as conventions_in_force, and the caisses it had a convention
    with but has none in force with any more, whose demandes it no longer
    sees (ep_web.domain.demandes.caisse_scope's hidden ones)."""
    from sqlalchemy import and_, case

    on = on or today()
    in_force = case((and_(*in_force_filter(on)), True), else_=False).label("in_force")
    rows = db.session.execute(select(Convention, in_force).where(Convention.partenaire_id == partenaire_id)).all()
    conventions = [conv for conv, current in rows if current]
    visible = {conv.caisse_id for conv in conventions}
    return conventions, sorted({conv.caisse_id for conv, _ in rows} - visible)


def caisse_in_force(caisse_id: int, partenaire_id: int, on: date | None = None) -> bool:
    """Does the caisse hold a convention in force with the partner? (SPEC §3)"""
    return any(c.caisse_id == caisse_id for c in conventions_in_force(partenaire_id, on))


def caisse_knows(caisse_id: int, partenaire_id: int) -> bool:
    """Has the caisse ever signed a convention with the partner (it keeps seeing
    the partner's file after the end)? (SPEC §3, §8)"""
    return (
        db.session.scalar(
            select(Convention.id)
            .where(Convention.caisse_id == caisse_id, Convention.partenaire_id == partenaire_id)
            .limit(1)
        )
        is not None
    )
