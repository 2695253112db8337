import threading

import pytest

from ep_web.domain.accounts import create_gestionnaire, create_technicien, inactivate, reactivate_technicien
from ep_web.domain.errors import DomainError
from ep_web.domain.quotas import quota_for, seats_used
from ep_web.extensions import db
from ep_web.models import Account, AccountStatus, Profile
from ep_web.transaction import commit
from tests.factories import alpha


@pytest.mark.parametrize(
    "members,gestionnaires,techniciens",
    [(1, 2, 5), (10, 2, 5), (11, 3, 15), (25, 3, 15), (26, 5, 25), (400, 5, 25)],
)
def test_quota_table(members, gestionnaires, techniciens):
    q = quota_for(members)
    assert (q.gestionnaires, q.techniciens) == (gestionnaires, techniciens)


def _data(i, domain):
    return {"civilite": "Mme", "nom": f"Nom{alpha(i)}", "prenom": "Prénom", "fonction": "Travailleuse sociale",
            "telephone": "01 00 00 00 00", "email": f"t{i}@{domain}"}


def test_technicien_quota_counts_active_and_pending_not_inactive(app, make):
    caisse = make.caisse()
    p = make.partenaire(caisse, members=8)  # 5 techniciens
    g = make.gestionnaire(p)
    created = [create_technicien(g, _data(i, p.domain_list[0])) for i in range(5)]
    commit()
    assert all(a.status == AccountStatus.PENDING for a in created)
    with pytest.raises(DomainError, match="Quota atteint : 5 / 5"):
        create_technicien(g, _data(99, p.domain_list[0]))
    db.session.rollback()
    inactivate(created[0], actor=g, reason="départ")
    commit()
    assert seats_used(p.id, Profile.TECHNICIEN) == 4
    create_technicien(g, _data(6, p.domain_list[0]))
    commit()
    with pytest.raises(DomainError, match="Quota atteint"):
        reactivate_technicien(g, created[0])


def test_gestionnaire_quota(app, make):
    caisse = make.caisse()
    admin = make.admin_caisse(caisse)
    p = make.partenaire(caisse, members=30)  # 5 gestionnaires
    for i in range(5):
        create_gestionnaire(admin, p, _data(i, p.domain_list[0]))
    commit()
    with pytest.raises(DomainError, match="5 / 5 gestionnaires"):
        create_gestionnaire(admin, p, _data(9, p.domain_list[0]))


@pytest.mark.postgres_only
@pytest.mark.committed  # each thread has its own connection
def test_last_seat_race_on_postgresql(app, make):
    """Two connections race for the last seat: exactly one wins, the quota holds."""
    caisse = make.caisse()
    p = make.partenaire(caisse, members=5)  # 5 techniciens
    g = make.gestionnaire(p)
    for i in range(4):
        make.technicien(p, email=f"x{i}@{p.domain_list[0]}")
    domain, gid, pid = p.domain_list[0], g.id, p.id
    db.session.close()  # the main thread holds no transaction while the workers race
    barrier = threading.Barrier(2)
    results = []

    def worker(i):
        with app.app_context():
            gest = db.session.get(Account, gid)
            try:
                barrier.wait(timeout=10)
                create_technicien(gest, _data(100 + i, domain))
                commit()
                results.append("ok")
            except DomainError as exc:
                db.session.rollback()
                results.append(exc.message)
            except Exception as exc:  # surfaced in the assertion below
                results.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r == "ok" for r in results) == [False, True], results
    assert seats_used(pid, Profile.TECHNICIEN) == 5


@pytest.mark.postgres_only
@pytest.mark.committed  # each thread has its own connection
def test_without_the_lock_the_race_would_overbook(app, make, monkeypatch):
    """Guard against a test that cannot fail: with the lock disabled, the same race
    lets both through (the count is stale), proving the lock is what holds."""
    import ep_web.domain.quotas as quotas

    caisse = make.caisse()
    p = make.partenaire(caisse, members=5)
    g = make.gestionnaire(p)
    for i in range(4):
        make.technicien(p, email=f"y{i}@{p.domain_list[0]}")
    domain, gid = p.domain_list[0], g.id
    db.session.close()
    monkeypatch.setattr(quotas, "lock_partenaire", lambda pid: None)
    barrier = threading.Barrier(2)
    results = []
    original = quotas.seats_used

    def slow_count(pid, profile):
        n = original(pid, profile)
        barrier.wait(timeout=10)  # both have counted before either inserts
        return n

    monkeypatch.setattr(quotas, "seats_used", slow_count)

    def worker(i):
        with app.app_context():
            gest = db.session.get(Account, gid)
            try:
                create_technicien(gest, _data(200 + i, domain))
                commit()
                results.append("ok")
            except DomainError as exc:
                db.session.rollback()
                results.append(exc.message)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == ["ok", "ok"]


def test_the_quota_in_sql_is_the_table_of_quota_for(app):
    """The accounts chart orders the partners by seats used over quota in SQL
    (quotas.quota_sql): the same SPEC §3 table as quota_for."""
    from sqlalchemy import literal, select

    from ep_web.domain.quotas import quota_sql

    members = [0, 1, 9, 10, 11, 24, 25, 26, 100, 5000]
    for profile, field in ((Profile.TECHNICIEN, "techniciens"), (Profile.GESTIONNAIRE, "gestionnaires")):
        got = db.session.execute(select(*[quota_sql(literal(m), profile) for m in members])).one()
        assert list(got) == [getattr(quota_for(m), field) for m in members]
