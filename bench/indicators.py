#!/usr/bin/env python3
"""p50/p95 server time of every indicator page and chart, and the time of the
rollup of a full day, on the data of bench/load_demandes.py (issue 14: p95 ≤
50 ms at national scale, a day's rollup ≤ 2 s).

    createdb -h 127.0.0.1 -U postgres bench_stats
    export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_stats
    .venv/bin/python bench/load_demandes.py --demandes 5000000   # once
    .venv/bin/python bench/indicators.py [--rounds 60]

The first run rolls up the whole history (the nightly job catching up: printed
too). Then it times the rollup of the busiest finished day of the last month
(stat_day rewritten, its month re-added), three times, and each page in-process
(Flask test client, one logged-in client per profile) from the app's
Server-Timing header, next to a bare Flask endpoint on the same app. A warm-up
round is not counted.
"""
import argparse
import os
import re
import statistics as stats
import sys
import time
from datetime import date, timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PASSWORD = "Bench-Partenaires-2026!"


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=60, help="timed requests per page")
    ap.add_argument("--rebuild", action="store_true", help="roll the whole history up again")
    args = ap.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from ep_web import create_app
    from ep_web.clock import now, today
    from ep_web.domain import statistics
    from ep_web.domain.passwords import hash_password
    from ep_web.extensions import db
    from ep_web.models import (
        Account,
        AccountStatus,
        CguVersion,
        Convention,
        Profile,
        StatDay,
        StatMonth,
        StatState,
    )

    app = create_app({"WTF_CSRF_ENABLED": False},
                     environ={"DATABASE_URL": os.environ["DATABASE_URL"], "EP_SECRET_KEY": "bench-" + "s" * 40,
                              "EP_ALLOW_UNSCANNED": "1", "EP_INSECURE_COOKIES": "1"})
    app.add_url_rule("/__bare", "bare", lambda: "ok")
    with app.app_context():
        upgrade()
        state = db.session.get(StatState, 1)
        if args.rebuild and state is not None:
            state.rolled_through = None
            db.session.commit()
        if state is None or state.rolled_through is None or state.rolled_through < today() - timedelta(days=1):
            t0 = time.perf_counter()
            counts = statistics.rollup()
            db.session.commit()
            print(f"backfill rollup: {counts['days']} days, {counts['rows']} stat_day rows, "
                  f"{counts['months']} months in {time.perf_counter() - t0:.1f} s")
        n_day = db.session.scalar(select(func.count()).select_from(StatDay))
        n_month = db.session.scalar(select(func.count()).select_from(StatMonth))
        print(f"stat_day: {n_day} rows, stat_month: {n_month} rows")

        # The rollup of a full day: the busiest finished day of the last 31 days.
        since = today() - timedelta(days=31)
        busiest = db.session.execute(select(StatDay.day, func.sum(StatDay.created + StatDay.closed))
                                     .where(StatDay.day >= since).group_by(StatDay.day)
                                     .order_by(func.sum(StatDay.created + StatDay.closed).desc()).limit(1)).first()
        day = busiest[0] if busiest else today() - timedelta(days=1)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            rows = statistics.rollup_days(day, day)
            statistics.refresh_month(day)
            db.session.commit()
            times.append(time.perf_counter() - t0)
        print(f"rollup of one full day ({day}, {busiest[1] if busiest else 0} facts, {rows} rows): "
              f"best {min(times):.2f} s, worst {max(times):.2f} s (stat_day rewritten + its month re-added)")

        # The largest caisse and partner, and one account per profile.
        big_caisse = db.session.scalar(select(StatMonth.caisse_id).where(StatMonth.partenaire_id == 0,
                                                                         StatMonth.caisse_id != 0)
                                       .group_by(StatMonth.caisse_id).order_by(func.sum(StatMonth.created).desc())
                                       .limit(1))
        big_partner = db.session.scalar(select(StatMonth.partenaire_id).where(StatMonth.partenaire_id != 0,
                                                                              StatMonth.caisse_id == big_caisse)
                                        .group_by(StatMonth.partenaire_id)
                                        .order_by(func.sum(StatMonth.created).desc()).limit(1))
        convention = db.session.scalar(select(Convention.id).where(Convention.caisse_id == big_caisse,
                                                                   Convention.partenaire_id == big_partner).limit(1))
        cgu = db.session.scalar(select(func.max(CguVersion.version))) or 1
        pw = hash_password(PASSWORD)

        def account(login, profile, **kw):
            a = db.session.scalar(select(Account).where(Account.login == login))
            if a is None:
                a = Account(login=login, profile=profile, civilite="Mme", prenom="Banc", nom="Essai",
                            email=f"{login.lower()}@bench.example", status=AccountStatus.ACTIVE, password_hash=pw,
                            session_nonce=login.lower(), cgu_version=cgu, **kw)
                db.session.add(a)
            for k, v in kw.items():
                setattr(a, k, v)
            a.cgu_version, a.password_hash, a.status, a.password_changed_at = cgu, pw, AccountStatus.ACTIVE, now()
            db.session.commit()
            return a.login

        logins = {
            "admin_caisse": account("BSTATADM", Profile.ADMIN_CAISSE, caisse_id=big_caisse),
            "admin_national": account("BSTATNAT", Profile.ADMIN_NATIONAL),
            "gestionnaire": account("BSTATGES", Profile.GESTIONNAIRE, partenaire_id=big_partner),
            "technicien": account("BSTATTEC", Profile.TECHNICIEN, partenaire_id=big_partner),
        }
        year = today().year
    print(f"largest caisse {big_caisse}, its largest partner {big_partner} (convention {convention}); year {year}")

    clients = {}
    for profile, login in logins.items():
        c = app.test_client()
        resp = c.post("/connexion", data={"login": login, "password": PASSWORD})
        assert resp.status_code == 302 and "/connexion" not in resp.headers["Location"], (profile, resp.status_code)
        clients[profile] = c
    clients["bare"] = app.test_client()
    pages = [
        ("bare Flask endpoint", "bare", "/__bare"),
        ("indicators: caisse table (year)", "admin_caisse", f"/indicateurs?annee={year}"),
        ("indicators: caisse table (last year)", "admin_caisse", f"/indicateurs?annee={year - 1}"),
        ("indicators: caisse table (date range)", "admin_caisse",
         f"/indicateurs?du={date(year - 1, 3, 15)}&au={date(year, 2, 10)}&tri=signalements&ordre=desc"),
        ("indicators: national table of caisses", "admin_national", f"/indicateurs?annee={year}"),
        ("indicators: export XLSX (caisse)", "admin_caisse", f"/indicateurs/export.xlsx?annee={year}"),
        ("bilan: partner page with charts", "admin_caisse", f"/indicateurs/conventions/{convention}?annee={year}"),
        ("bilan: PDF", "admin_caisse", f"/indicateurs/conventions/{convention}/bilan.pdf?annee={year}"),
        ("statistics: caisse charts", "admin_caisse", f"/indicateurs/statistiques?annee={year}"),
        ("statistics: national charts", "admin_national", f"/indicateurs/statistiques?annee={year}"),
        ("statistics: gestionnaire charts", "gestionnaire", f"/indicateurs/statistiques?annee={year}"),
        ("chart CSV: volumes (national)", "admin_national",
         f"/indicateurs/statistiques?annee={year}&graphique=volumes"),
        ("nouvelle demande: usual delays", "technicien", f"/demandes/nouvelle?caisse_id={big_caisse}"),
    ]
    print(f"\n{'page':45} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, who, url in pages:
        client = clients[who]
        durations = []
        for i in range(args.rounds + 3):
            resp = client.get(url)
            assert resp.status_code == 200, (name, resp.status_code)
            if i >= 3:
                durations.append(float(re.search(r"dur=([\d.]+)", resp.headers["Server-Timing"]).group(1)))
        print(f"{name:45} {stats.median(durations):8.1f} {pct(durations, 95):8.1f} {max(durations):8.1f}")


if __name__ == "__main__":
    main()
