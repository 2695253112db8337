"""The quick start's demo data carries a year of history the indicators show."""
from datetime import timedelta

from ep_web.clock import today
from ep_web.demo import seed
from ep_web.domain import indicators, statistics
from ep_web.domain.indicators import Period
from ep_web.extensions import db
from ep_web.models import Caisse, Demande


def test_demo_has_a_year_of_history_in_the_indicators(app):
    seed()
    count = db.session.scalar(db.select(db.func.count(Demande.id)))
    seed()
    assert db.session.scalar(db.select(db.func.count(Demande.id))) == count  # once
    alpes = db.session.scalar(db.select(Caisse).where(Caisse.code == "740"))
    year = Period(today() - timedelta(days=365), today())
    rows = {r.partenaire.name: r.figures for r in indicators.partner_table_page(alpes, year)[0]}
    ccas = rows["CCAS de Ville-Démo"]
    assert ccas.created > 200 and ccas.closed > 200 and ccas.sessions == 2
    assert ccas.sla_share is not None and 0.5 < ccas.sla_share < 1
    months = statistics.read(year.first, year.last, group=(), caisse_ids=[alpes.id], by_month=True)
    assert len([m for m, v in months.items() if v["created"]]) >= 12
    # The rollup holds the history: the pages do not read the demandes for it.
    assert statistics.rolled_through() == today() - timedelta(days=1)
