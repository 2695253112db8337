"""Statistics charts (SPEC §7), drawn on the server as SVG.

Why not the State's chart components (npm ``@gouvfr/dsfr-chart``): they are
Vue web components whose build evaluates code at run time and styles its
elements inline, which the strict CSP (script-src 'self', no 'unsafe-eval',
no inline style) forbids; an SVG drawn here needs no script at all, prints,
and works without JavaScript. Colours come from static/css/app.css (classes,
no inline style). Every chart carries its data as a table (RGAA: the
accessible alternative) and a CSV download of that table.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date

from ep_web.clock import today
from ep_web.domain import quotas, statistics
from ep_web.domain.statistics import month_start, next_month
from ep_web.extensions import db
from ep_web.models import OUTCOME_LABELS, Caisse, Convention, Outcome, Partenaire, Profile, Service
from ep_web.models.stats import CLOSE_HIST, FIRST_HIST

MONTHS = ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."]
SHORT_SERVICE = {
    "contact": "Contact", "etude_dossier": "Étude de dossier", "suivi_ame": "Suivi AME",
    "signalement": "Signalement", "rendez_vous": "Rendez-vous", "document": "Document",
}
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 44
BAR_ROW = 26
MAX_ROWS = 15


@dataclass
class Chart:
    slug: str
    title: str
    description: str
    kind: str  # "bars" (vertical, stacked), "line", "hbars" (horizontal, grouped)
    categories: list[str]
    series: list[tuple[str, list]]
    unit: str = ""
    table_headers: list[str] = field(default_factory=list)
    table_rows: list[list] = field(default_factory=list)
    note: str = ""

    @property
    def empty(self) -> bool:
        return not any(v for _, values in self.series for v in values if v)

    # -------------------------------------------------------- geometry for templates/indicateurs/_chart.html

    def _max(self) -> float:
        if self.kind == "bars":
            top = max((sum(v or 0 for v in col) for col in zip(*[vals for _, vals in self.series])), default=0)
        else:
            top = max((v or 0 for _, vals in self.series for v in vals), default=0)
        if self.unit == "%":
            return 100
        return nice_ceiling(top)

    @property
    def height(self) -> int:
        if self.kind == "hbars":
            return TOP + BOTTOM + BAR_ROW * max(len(self.categories), 1) * max(len(self.series), 1) // 1
        return HEIGHT

    @property
    def width(self) -> int:
        return WIDTH

    @property
    def ticks(self) -> list[dict]:
        """Axis graduations: value label and position."""
        top = self._max() or 1
        out = []
        for i in range(5):
            value = top * i / 4
            label = f"{value:g}{' %' if self.unit == '%' else ''}"
            if self.kind == "hbars":
                x = self.left + (WIDTH - self.left - RIGHT) * i / 4
                out.append({"label": label, "x": round(x, 1), "y": self.height - BOTTOM + 16})
            else:
                y = HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * i / 4
                out.append({"label": label, "x": LEFT - 6, "y": round(y, 1)})
        return out

    @property
    def left(self) -> int:
        return 190 if self.kind == "hbars" else LEFT

    @property
    def shapes(self) -> list[dict]:
        """Rectangles (bars) or polylines (lines), each with its series index and a text for its <title>."""
        top = self._max() or 1
        n = max(len(self.categories), 1)
        shapes = []
        if self.kind == "bars":
            slot = (WIDTH - LEFT - RIGHT) / n
            plot_h = HEIGHT - TOP - BOTTOM
            for i, cat in enumerate(self.categories):
                base = HEIGHT - BOTTOM
                for s, (name, values) in enumerate(self.series):
                    v = values[i] or 0
                    h = plot_h * v / top
                    if v:
                        shapes.append({"rect": True, "x": round(LEFT + i * slot + slot * 0.15, 1),
                                       "y": round(base - h, 1), "w": round(slot * 0.7, 1), "h": round(h, 1),
                                       "s": s, "title": f"{cat} — {name} : {fmt(v, self.unit)}"})
                    base -= h
        elif self.kind == "line":
            slot = (WIDTH - LEFT - RIGHT) / n
            plot_h = HEIGHT - TOP - BOTTOM
            for s, (name, values) in enumerate(self.series):
                points = []
                for i, v in enumerate(values):
                    if v is None:
                        continue
                    x = LEFT + i * slot + slot / 2
                    y = HEIGHT - BOTTOM - plot_h * v / top
                    points.append((round(x, 1), round(y, 1)))
                    shapes.append({"dot": True, "x": round(x, 1), "y": round(y, 1), "s": s,
                                   "title": f"{self.categories[i]} — {name} : {fmt(v, self.unit)}"})
                if len(points) > 1:
                    shapes.insert(0, {"line": True, "points": " ".join(f"{x},{y}" for x, y in points), "s": s})
        else:
            plot_w = WIDTH - self.left - RIGHT
            k = max(len(self.series), 1)
            for i, cat in enumerate(self.categories):
                for s, (name, values) in enumerate(self.series):
                    v = values[i] or 0
                    y = TOP + (i * k + s) * BAR_ROW
                    shapes.append({"rect": True, "x": self.left, "y": y + 3, "w": round(plot_w * v / top, 1),
                                   "h": BAR_ROW - 6, "s": s, "title": f"{cat} — {name} : {fmt(v, self.unit)}"})
        return shapes

    @property
    def labels(self) -> list[dict]:
        """Category labels: under the bars, or left of the horizontal bars."""
        n = max(len(self.categories), 1)
        if self.kind == "hbars":
            k = max(len(self.series), 1)
            return [{"x": self.left - 6, "y": TOP + (i * k + k / 2) * BAR_ROW + 4, "text": trim(c, 30)}
                    for i, c in enumerate(self.categories)]
        slot = (WIDTH - LEFT - RIGHT) / n
        step = max(1, n // 12)
        return [{"x": round(LEFT + i * slot + slot / 2, 1), "y": HEIGHT - BOTTOM + 16, "text": trim(c, 12)}
                for i, c in enumerate(self.categories) if i % step == 0]


def trim(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def fmt(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{value:g} %"
    if unit == "j":
        return f"{value:g} j"
    return f"{value:g}"


def nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def months_of(first: date, last: date) -> list[date]:
    out, month = [], month_start(first)
    last = min(last, today())
    while month <= last:
        out.append(month)
        month = next_month(month)
    return out


def month_label(month: date, many_years: bool) -> str:
    return f"{MONTHS[month.month - 1]} {month.year % 100:02d}" if many_years else MONTHS[month.month - 1]


def pct(met: int, missed: int):
    return round(met * 100 / (met + missed)) if met + missed else None


def _bucket_value(bucket) -> int | None:
    if bucket is None:
        return None
    low, high = bucket
    return high if high is not None else low


# ---------------------------------------------------------------- the charts


def _monthly(period, caisse_ids, partenaire_ids):
    """The monthly counts by service (volumes, 48 h, complements, backlog)."""
    rows = statistics.read(period.first, period.last, group=("service",), caisse_ids=caisse_ids,
                           partenaire_ids=partenaire_ids, by_month=True, measures=statistics.COUNTS)
    months = months_of(period.first, period.last)
    many_years = len({m.year for m in months}) > 1
    labels = [month_label(m, many_years) for m in months]
    return rows, months, labels


def _volumes(rows, months, labels) -> Chart:
    services = [s.value for s in Service]
    data = {s: [0] * len(months) for s in services}
    index = {m: i for i, m in enumerate(months)}
    for (month, service), v in rows.items():
        if month in index and service in data:
            data[service][index[month]] += v["created"]
    series = [(SHORT_SERVICE[s], data[s]) for s in services if any(data[s])]
    return Chart("volumes", "Demandes envoyées par mois et par service",
                 "Nombre de demandes envoyées chaque mois, empilées par service.", "bars", labels, series,
                 table_headers=["Mois", *[n for n, _ in series], "Total"],
                 table_rows=[[labels[i], *[vals[i] for _, vals in series], sum(vals[i] for _, vals in series)]
                             for i in range(len(months))])


def _sla(rows, months, labels) -> Chart:
    met, missed = [0] * len(months), [0] * len(months)
    index = {m: i for i, m in enumerate(months)}
    for (month, _s), v in rows.items():
        if month in index:
            met[index[month]] += v["sla_met"]
            missed[index[month]] += v["sla_missed"]
    shares = [pct(a, b) for a, b in zip(met, missed)]
    return Chart("delai-48h", "Signalements pris en charge sous 48 heures, par mois",
                 "Part des signalements pris en charge dans les 48 heures, parmi ceux dont le délai s'est achevé "
                 "dans le mois.", "line", labels, [("Pris en charge sous 48 h", shares)], unit="%",
                 table_headers=["Mois", "Sous 48 h", "Hors délai", "Part sous 48 h (%)"],
                 table_rows=[[labels[i], met[i], missed[i], shares[i]] for i in range(len(months))])


def _delays(rows) -> Chart:
    per = {s.value: statistics.empty() for s in Service}
    for (service,), v in rows.items():
        if service in per:
            statistics.add(per[service], v)
    cats, med, p90, first, table = [], [], [], [], []
    for s in Service:
        v = per[s.value]
        if not (v["closed"] or v["taken"]):
            continue
        b_med = statistics.percentile(v, CLOSE_HIST, 0.5)
        b_p90 = statistics.percentile(v, CLOSE_HIST, 0.9)
        b_first = statistics.percentile(v, FIRST_HIST, 0.5)
        cats.append(SHORT_SERVICE[s.value])
        med.append(_bucket_value(b_med))
        p90.append(_bucket_value(b_p90))
        first.append(_bucket_value(b_first))
        table.append([SHORT_SERVICE[s.value], v["closed"], statistics.delay_label(b_med),
                      statistics.delay_label(b_p90), statistics.delay_label(b_first)])
    return Chart("delais", "Délais de traitement par service",
                 "En jours, de l'envoi à la clôture (médiane et 90e centile) et jusqu'à la prise en charge "
                 "(médiane), pour les demandes clôturées ou prises en charge dans la période.", "hbars", cats,
                 [("Clôture, médiane", med), ("Clôture, 90e centile", p90), ("Prise en charge, médiane", first)],
                 unit="j", table_headers=["Service", "Demandes clôturées", "Médiane jusqu'à la clôture",
                                          "90e centile jusqu'à la clôture", "Médiane jusqu'à la prise en charge"],
                 table_rows=table, note="Délais comptés en jours entiers ; au-delà de 7 jours, par tranches.")


def _outcomes(rows) -> Chart:
    counts = {o.value: 0 for o in Outcome}
    for (outcome,), v in rows.items():
        if outcome in counts:
            counts[outcome] += v["closed"]
    total = sum(counts.values())
    items = [(OUTCOME_LABELS[o], counts[o.value]) for o in Outcome if counts[o.value]]
    return Chart("issues", "Issues des demandes clôturées",
                 "Nombre de demandes clôturées dans la période, par issue.", "hbars", [n for n, _ in items],
                 [("Demandes clôturées", [c for _, c in items])],
                 table_headers=["Issue", "Demandes clôturées", "Part (%)"],
                 table_rows=[[n, c, round(c * 100 / total) if total else None] for n, c in items])


def _complements(rows, months, labels) -> Chart:
    created, asked = [0] * len(months), [0] * len(months)
    index = {m: i for i, m in enumerate(months)}
    for (month, _s), v in rows.items():
        if month in index:
            created[index[month]] += v["created"]
            asked[index[month]] += v["complements"]
    per100 = [round(a * 100 / c, 1) if c else None for a, c in zip(asked, created)]
    return Chart("complements", "Compléments demandés pour 100 demandes, par mois",
                 "Compléments demandés par la caisse dans le mois, rapportés aux demandes envoyées dans le mois.",
                 "line", labels, [("Compléments pour 100 demandes", per100)],
                 table_headers=["Mois", "Demandes envoyées", "Compléments demandés", "Pour 100 demandes"],
                 table_rows=[[labels[i], created[i], asked[i], per100[i]] for i in range(len(months))])


def _backlog(rows, months, labels, period, caisse_ids, partenaire_ids) -> Chart:
    open_ = statistics.backlog_before(period.first, caisse_ids=caisse_ids, partenaire_ids=partenaire_ids)
    delta = [0] * len(months)
    index = {m: i for i, m in enumerate(months)}
    for (month, _s), v in rows.items():
        if month in index:
            delta[index[month]] += statistics.open_delta(v)
    series = []
    for d in delta:
        open_ += d
        series.append(open_)
    return Chart("en-cours", "Demandes en cours en fin de mois",
                 "Demandes envoyées et pas encore clôturées à la fin de chaque mois (à ce jour pour le mois en "
                 "cours).", "line", labels, [("Demandes en cours", series)],
                 table_headers=["Mois", "Demandes en cours"],
                 table_rows=[[labels[i], series[i]] for i in range(len(months))])


def _sla_by(period, caisse_ids, partenaire_ids, national: bool) -> Chart:
    group = ("caisse_id",) if national else ("partenaire_id",)
    # Read from the indicator tables' rows (statistics.read): one row per partner or caisse.
    rows = statistics.read(period.first, period.last, group=group, caisse_ids=caisse_ids,
                           partenaire_ids=partenaire_ids, measures=("sla_met", "sla_missed"))
    items = [(k[0], v["sla_met"], v["sla_missed"]) for k, v in rows.items() if v["sla_met"] + v["sla_missed"]]
    items.sort(key=lambda t: -(t[1] + t[2]))
    items = items[:MAX_ROWS]
    model = Caisse if national else Partenaire
    names = {i: n for i, n in db.session.query(model.id, model.name).filter(model.id.in_([t[0] for t in items]))}
    cats = [names.get(i, "—") for i, _, _ in items]
    shares = [pct(a, b) for _, a, b in items]
    who = "caisse" if national else "structure"
    return Chart(f"delai-48h-par-{who}", f"Signalements pris en charge sous 48 heures, par {who}",
                 f"Part des signalements pris en charge dans les 48 heures, pour les {MAX_ROWS} {who}s qui en ont "
                 "envoyé le plus dans la période.", "hbars", cats, [("Pris en charge sous 48 h", shares)], unit="%",
                 table_headers=[who.capitalize(), "Sous 48 h", "Hors délai", "Part sous 48 h (%)"],
                 table_rows=[[cats[i], items[i][1], items[i][2], shares[i]] for i in range(len(items))])


def _accounts(caisse: Caisse | None, partenaire_ids=None) -> Chart:
    from sqlalchemy import Float, cast, func, select

    from ep_web.domain.access import in_force_filter

    # The seats in use (SPEC §3) per partner, and the MAX_ROWS partners nearest
    # their quota, in SQL: a caisse holds thousands of partners, the chart 15.
    partners = (select(Convention.partenaire_id).where(Convention.caisse_id == caisse.id, *in_force_filter(today()))
                if partenaire_ids is None else list(partenaire_ids))
    used = quotas.seats_used_select(partners).subquery()
    techniciens = func.coalesce(used.c.techniciens, 0)
    share = cast(techniciens, Float) / quotas.quota_sql(Partenaire.members, Profile.TECHNICIEN)
    stmt = (select(Partenaire.name, Partenaire.members, techniciens, func.coalesce(used.c.gestionnaires, 0))
            .outerjoin(used, used.c.partenaire_id == Partenaire.id).where(Partenaire.id.in_(partners))
            .order_by(share.desc(), Partenaire.name, Partenaire.id).limit(MAX_ROWS))
    rows = []
    for name, members, techs, gests in db.session.execute(stmt):
        q = quotas.quota_for(members)
        rows.append([name, techs, q.techniciens, gests, q.gestionnaires])
    return Chart("comptes", "Comptes techniciens utilisés et quota, par structure",
                 f"Comptes actifs ou en attente d'activation, face au quota de la structure ({MAX_ROWS} structures "
                 "au plus, les plus proches de leur quota d'abord).", "hbars", [r[0] for r in rows],
                 [("Techniciens", [r[1] for r in rows]), ("Quota techniciens", [r[2] for r in rows])],
                 table_headers=["Structure", "Techniciens", "Quota techniciens", "Gestionnaires",
                                "Quota gestionnaires"], table_rows=rows)


def scope_charts(period, *, caisse_ids=None, partenaire_ids=None, quotas_of: Caisse | None = None,
                 only: str | None = None) -> list[Chart]:
    """The statistics page: every chart of a caisse, of every caisse (national),
    or of one partner; with ``only``, the chart of that slug alone (its CSV
    computes nothing else; [] when the scope has no such chart)."""
    scope = dict(caisse_ids=caisse_ids, partenaire_ids=partenaire_ids)
    monthly = functools.cache(lambda: _monthly(period, caisse_ids, partenaire_ids))
    builders = [("volumes", lambda: _volumes(*monthly())), ("delai-48h", lambda: _sla(*monthly()))]
    if partenaire_ids is None:
        national = caisse_ids is None
        builders.append((f"delai-48h-par-{'caisse' if national else 'structure'}",
                         lambda: _sla_by(period, caisse_ids, None, national=national)))
    builders += [
        ("delais", lambda: _delays(statistics.read(period.first, period.last, group=("service",), **scope,
                                                   measures=("closed", "taken", *CLOSE_HIST, *FIRST_HIST)))),
        ("issues", lambda: _outcomes(statistics.read(period.first, period.last, group=("outcome",), **scope,
                                                     measures=("closed",)))),
        ("complements", lambda: _complements(*monthly())),
        ("en-cours", lambda: _backlog(*monthly(), period, caisse_ids, partenaire_ids)),
    ]
    if quotas_of is not None:
        builders.append(("comptes", lambda: _accounts(quotas_of)))
    elif partenaire_ids is not None:
        builders.append(("comptes", lambda: _accounts(None, partenaire_ids)))
    return [build() for slug, build in builders if only is None or slug == only]


def partner_charts(caisse_id: int, partenaire_id: int, period, only: str | None = None) -> list[Chart]:
    """The charts of the bilan page: one partner at one caisse."""
    return scope_charts(period, caisse_ids=[caisse_id], partenaire_ids=[partenaire_id], only=only)
