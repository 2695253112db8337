"""A small world with a hand-computed history (tests/indicateurs): two caisses,
two partners, demandes over 2025 and 2026 including ones that changed caisse,
closed then purged by retention, and today's (read live)."""
from datetime import datetime, timedelta, timezone

import pytest

from ep_web.clock import PARIS
from ep_web.domain import indicators, statistics
from ep_web.extensions import db
from ep_web.models import Demande, DemandeEvent, DemandeStatus, Outcome
from tests.conftest import START

_refs = iter(range(1, 10_000))


def paris(y, m, d, h=10, minute=0):
    return datetime(y, m, d, h, minute, tzinfo=PARIS).astimezone(timezone.utc)


def demande(partenaire, caisse, author, service, created, *, taken=None, closed=None, outcome=None,
            complements=()):
    d = Demande(reference=f"EP-T-{next(_refs):06d}", service=service, caisse_id=caisse.id,
                partenaire_id=partenaire.id, author_id=author.id, civilite="Mme", nom="Fictif", prenom="Personne",
                date_naissance=datetime(1960, 1, 1).date(), departement="74", nom_search="fictif personne",
                created_at=created, updated_at=created,
                due_at=created + timedelta(hours=48) if service == "signalement" else None,
                taken_at=taken, closed_at=closed, outcome=outcome,
                status=DemandeStatus.CLOTUREE if closed else (DemandeStatus.PRISE_EN_CHARGE if taken
                                                               else DemandeStatus.TRANSMISE))
    db.session.add(d)
    db.session.flush()
    for at in complements:
        db.session.add(DemandeEvent(demande_id=d.id, kind="complement_requested", at=at, details={}))
    db.session.commit()
    return d


@pytest.fixture
def world(app, make, clock):
    """See the module docstring; the expected figures are written in the tests."""
    w = type("World", (), {})()
    w.a = make.caisse(name="CPAM Alpha")
    w.b = make.caisse(name="CPAM Bêta")
    w.p = make.partenaire(w.a, name="Accueil Fictif", address="3 rue des Tests, 74000 Annecy")
    make.convention(w.p, w.b)
    w.q = make.partenaire(w.a, name="Centre Exemple", address="1 place Imaginaire, 73000 Chambéry")
    w.tp = make.technicien(w.p)
    w.tq = make.technicien(w.q)
    w.agent = make.agent(w.a)
    w.admin_a = make.admin_caisse(w.a)
    w.admin_b = make.admin_caisse(w.b)
    w.national = make.admin_national()
    w.gp = make.gestionnaire(w.p)
    w.gq = make.gestionnaire(w.q)
    app.config["RETENTION_DAYS"] = 300  # d1 and d4 (closed in March/April 2025) are purged at START

    # 2025, P at A.
    w.d1 = demande(w.p, w.a, w.tp, "signalement", paris(2025, 3, 10), taken=paris(2025, 3, 11, 9),
                   closed=paris(2025, 3, 20), outcome=Outcome.TRANSMIS_MISSION_ACCOMPAGNEMENT)
    w.d2 = demande(w.p, w.a, w.tp, "signalement", paris(2025, 6, 1), taken=paris(2025, 6, 4),
                   closed=paris(2025, 6, 4, 12), outcome=Outcome.PARCOURS_CREE)
    w.d3 = demande(w.p, w.a, w.tp, "contact", paris(2025, 12, 31, 23, 30))
    w.d4 = demande(w.p, w.a, w.tp, "etude_dossier", paris(2025, 4, 1), taken=paris(2025, 4, 2),
                   closed=paris(2025, 4, 5), outcome=Outcome.SANS_SUITE, complements=[paris(2025, 4, 2, 11)])
    # P at B, sent on to A after the nightly rollup counted it at B.
    w.d5 = demande(w.p, w.b, w.tp, "signalement", paris(2025, 9, 1))
    clock.at = paris(2025, 9, 2, 8)
    statistics.rollup()
    db.session.commit()
    w.d5.change_caisse(w.a.id, w.agent.id, paris(2025, 9, 2, 8, 30))
    w.d5.taken_at = paris(2025, 9, 2, 9)
    w.d5.status = DemandeStatus.CLOTUREE
    w.d5.closed_at, w.d5.outcome = paris(2025, 9, 5), Outcome.PARCOURS_CLOTURE_SOINS
    db.session.commit()
    # d3 closed in 2026.
    w.d3.taken_at = paris(2026, 1, 2, 9)
    w.d3.status, w.d3.closed_at, w.d3.outcome = DemandeStatus.CLOTUREE, paris(2026, 1, 2), Outcome.TRAITEE
    db.session.commit()
    # 2026: Q at A, taken late and closed today; P at A, yesterday's and today's.
    w.d6 = demande(w.q, w.a, w.tq, "signalement", paris(2026, 2, 27), taken=paris(2026, 3, 2, 9, 30),
                   closed=paris(2026, 3, 2, 9, 45), outcome=Outcome.EXAMEN_PREVENTION)
    w.d8 = demande(w.p, w.a, w.tp, "signalement", paris(2026, 3, 1, 11))
    w.d7 = demande(w.p, w.a, w.tp, "contact", paris(2026, 3, 2, 8))
    clock.at = START  # 2026-03-02 10:00 Paris
    w.purged_ids = (w.d1.id, w.d4.id)
    return w


@pytest.fixture
def nightly(world):
    """The nightly jobs of START's night ran: rollup, then the purge."""
    from workers.demandes import purge_closed_demandes, rollup_statistics

    rollup_statistics()
    assert purge_closed_demandes()["demandes"] == 2
    return world


def sessions(world):
    indicators.add_session(world.admin_a, world.p, held_on=datetime(2025, 5, 15).date(), topic="Présentation",
                           participants=20, staff_trained=5)
    indicators.add_session(world.admin_a, world.p, held_on=datetime(2026, 2, 10).date(), topic="Formation",
                           participants=8, staff_trained=8)
    db.session.commit()
