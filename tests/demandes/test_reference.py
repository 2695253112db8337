"""Reference numbering (SPEC §4 numbered reference): one number per demande,
never twice, even when two demandes are created at the same moment."""
import threading

import pytest

from ep_web.domain.demandes import next_reference
from ep_web.extensions import db
from ep_web.models import DemandeCounter


def test_numbers_follow_each_other_within_a_year(app, clock):
    first, second = next_reference(), next_reference()
    assert (first, second) == ("EP-2026-000001", "EP-2026-000002")
    assert db.session.get(DemandeCounter, 2026).value == 2


def test_a_new_year_starts_again_at_one(app, clock):
    next_reference()
    clock.advance(days=366)
    assert next_reference() == "EP-2027-000001"


@pytest.mark.postgres_only
@pytest.mark.committed  # two real connections
def test_two_connections_never_get_the_same_reference(app):
    """The first demande of the year created on two connections at once: the
    second waits for the first's transaction and takes the next number (the
    former UPDATE-then-INSERT made one of them fail on the primary key)."""
    db.session.close()
    first_has_number = threading.Event()
    results, errors = {}, []

    def create(name, hold):
        with app.app_context():
            try:
                results[name] = next_reference()
                if hold:
                    first_has_number.set()
                    # keep the counter row locked while the other connection asks
                    db.session.execute(db.text("SELECT pg_sleep(0.5)"))
                db.session.commit()
            except Exception as exc:  # reported by the assertion below
                errors.append(repr(exc))
                db.session.rollback()
            finally:
                first_has_number.set()
                db.session.remove()

    a = threading.Thread(target=create, args=("a", True))
    a.start()
    assert first_has_number.wait(10)
    b = threading.Thread(target=create, args=("b", False))
    b.start()
    a.join(30)
    b.join(30)
    assert errors == []
    assert sorted(results.values()) == ["EP-2026-000001", "EP-2026-000002"]


@pytest.mark.postgres_only
@pytest.mark.committed
def test_many_concurrent_demandes_get_distinct_references(app):
    db.session.close()
    barrier = threading.Barrier(8)
    refs, errors = [], []

    def create():
        with app.app_context():
            try:
                barrier.wait(10)
                for _ in range(5):
                    refs.append(next_reference())
                    db.session.commit()
            except Exception as exc:
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(refs) == [f"EP-2026-{n:06d}" for n in range(1, 41)]
