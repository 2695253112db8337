"""Account quotas by the partner's number of members (SPEC §3)."""
from dataclasses import dataclass

from sqlalchemy import case, func, select, update

from ep_web.domain.errors import DomainError
from ep_web.extensions import db
from ep_web.models import SEAT_STATUSES, Account, Partenaire, Profile


@dataclass(frozen=True)
class Quota:
    gestionnaires: int
    techniciens: int


# SPEC §3 table: (most members, quota), the last one for any number above.
QUOTAS = ((10, Quota(2, 5)), (25, Quota(3, 15)), (None, Quota(5, 25)))


def quota_for(members: int) -> Quota:
    """SPEC §3 table: 1–10 members → 2 gestionnaires / 5 techniciens;
    11–25 → 3 / 15; over 25 → 5 / 25."""
    for most, quota in QUOTAS:
        if most is None or members <= most:
            return quota
    raise AssertionError("QUOTAS ends with an open row")


def quota_sql(members, profile: Profile):
    """quota_for's number for ``profile``, in SQL over a members column (the
    same table, QUOTAS)."""
    field = "gestionnaires" if profile == Profile.GESTIONNAIRE else "techniciens"
    *bounded, (_, top) = QUOTAS
    return case(*[(members <= most, getattr(q, field)) for most, q in bounded], else_=getattr(top, field))


def limit(partenaire: Partenaire, profile: Profile) -> int:
    """SPEC §3: the quota of the partner for that profile."""
    q = quota_for(partenaire.members)
    return q.gestionnaires if profile == Profile.GESTIONNAIRE else q.techniciens


def seats_used(partenaire_id: int, profile: Profile) -> int:
    """Active and not-yet-activated accounts count; inactive ones do not (SPEC §3)."""
    return db.session.scalar(
        select(func.count(Account.id)).where(
            Account.partenaire_id == partenaire_id,
            Account.profile == profile,
            Account.status.in_(SEAT_STATUSES),
        )
    )


def lock_partenaire(partenaire_id: int) -> None:
    """Serialise seat-taking for one partner until the transaction ends.

    The UPDATE takes the row lock on PostgreSQL (a concurrent request waits, then
    counts again under READ COMMITTED with a fresh snapshot) and the database
    write lock on SQLite, so the count below is never stale
    (SPEC §3: never exceeded, even under concurrent requests)."""
    db.session.execute(
        update(Partenaire).where(Partenaire.id == partenaire_id).values(lock_version=Partenaire.lock_version + 1)
    )


@dataclass(frozen=True)
class Usage:
    """The seats of one profile at one partner (SPEC §3 quotas): what the caisse's
    lists, the gestionnaire's counter and the quota check all read."""

    profile: Profile
    used: int
    limit: int
    members: int

    @property
    def full(self) -> bool:
        return self.used >= self.limit

    @property
    def left(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def noun(self) -> str:
        return "gestionnaires" if self.profile == Profile.GESTIONNAIRE else "techniciens"


@dataclass(frozen=True)
class Seats:
    """Both profiles of one partner, as the caisse sees them."""

    gestionnaires: Usage
    techniciens: Usage


def usage(partenaire: Partenaire, profile: Profile) -> Usage:
    """SPEC §3: seats of that profile in use at the partner (active and
    not-yet-activated accounts), against the limit its number of members sets."""
    return Usage(profile, seats_used(partenaire.id, profile), limit(partenaire, profile), partenaire.members)


def seats_used_select(ids):
    """SPEC §3: the seats in use of the partners ``ids`` (a list, or a
    subquery selecting them), one row per partner holding any:
    (partenaire_id, gestionnaires, techniciens)."""
    return (select(Account.partenaire_id,
                   func.count().filter(Account.profile == Profile.GESTIONNAIRE).label("gestionnaires"),
                   func.count().filter(Account.profile == Profile.TECHNICIEN).label("techniciens"))
            .where(Account.partenaire_id.in_(ids), Account.status.in_(SEAT_STATUSES))
            .group_by(Account.partenaire_id))


def seats_used_by_partenaire(ids) -> dict[tuple[int, Profile], int]:
    """SPEC §3: the seats in use, by (partner, profile), of the partners ``ids``, in one query."""
    used = {}
    for partenaire_id, gestionnaires, techniciens in db.session.execute(seats_used_select(ids)):
        used[(partenaire_id, Profile.GESTIONNAIRE)] = gestionnaires
        used[(partenaire_id, Profile.TECHNICIEN)] = techniciens
    return used


def seats_by_partenaire(partenaires, ids=None) -> dict[int, Seats]:
    """SPEC §3 quotas of several partners, counted in one query (a list page).
    ``ids``: a subquery selecting the same partners' ids, for a long list (the
    thousands of partners of a caisse, not bound one by one)."""
    partenaires = list(partenaires)
    used = seats_used_by_partenaire(ids if ids is not None else [p.id for p in partenaires]) if partenaires else {}
    return {
        p.id: Seats(*(Usage(profile, used.get((p.id, profile), 0), limit(p, profile), p.members)
                      for profile in (Profile.GESTIONNAIRE, Profile.TECHNICIEN)))
        for p in partenaires
    }


def seats(partenaire: Partenaire) -> Seats:
    """SPEC §3: both profiles' seats of one partner."""
    return seats_by_partenaire([partenaire])[partenaire.id]


def take_seat(partenaire: Partenaire, profile: Profile) -> None:
    """SPEC §3: refuse a creation or reactivation that would exceed the quota,
    safely under concurrent requests. Call before adding or reactivating."""
    lock_partenaire(partenaire.id)
    seat = usage(partenaire, profile)
    if seat.full:
        raise DomainError(
            f"Quota atteint : {seat.used} / {seat.limit} {seat.noun} pour une structure de {seat.members} membres. "
            f"Inactivez un compte avant d'en créer ou d'en réactiver un autre.",
        )
