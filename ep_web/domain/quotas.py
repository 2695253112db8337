"""Account quotas by the partner's number of members (SPEC §3)."""
from dataclasses import dataclass

from sqlalchemy import func, select, update

from ep_web.domain.errors import DomainError
from ep_web.extensions import db
from ep_web.models import SEAT_STATUSES, Account, Partenaire, Profile


@dataclass(frozen=True)
class Quota:
    gestionnaires: int
    techniciens: int


def quota_for(members: int) -> Quota:
    """SPEC §3 table: 1–10 members → 2 gestionnaires / 5 techniciens;
    11–25 → 3 / 15; over 25 → 5 / 25."""
    if members <= 10:
        return Quota(2, 5)
    if members <= 25:
        return Quota(3, 15)
    return Quota(5, 25)


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


def take_seat(partenaire: Partenaire, profile: Profile) -> None:
    """SPEC §3: refuse a creation or reactivation that would exceed the quota,
    safely under concurrent requests. Call before adding or reactivating."""
    lock_partenaire(partenaire.id)
    used = seats_used(partenaire.id, profile)
    cap = limit(partenaire, profile)
    if used >= cap:
        noun = "gestionnaires" if profile == Profile.GESTIONNAIRE else "techniciens"
        raise DomainError(
            f"Quota atteint : {used} / {cap} {noun} pour une structure de {partenaire.members} membres. "
            f"Inactivez un compte avant d'en créer ou d'en réactiver un autre.",
        )
