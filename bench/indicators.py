#!/usr/bin/env python3
"""p50/p95 server time of every indicator page and chart, and the time of the
rollup of a full day, on the data of bench/load_demandes.py (issue 14: p95 ≤
50 ms at national scale, a day's rollup ≤ 2 s).

    createdb -h 127.0.0.1 -U postgres bench_stats
    export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_stats
    .venv/bin/python bench/load_demandes.py --demandes 5000000   # once
    .venv/bin/python bench/indicators.py [--rounds 60]

The first run rolls up the whole history (the nightly job catching up: printed
too). Then it times the rollup of the busiest finished day of the last month:
rolled again three times (the idempotent path: nothing moves in stat_month and
stat_year) and rolled for the first time twice (the nightly job's case: the
day is first taken out and committed, untimed, then rolled and committed),
the stat tables VACUUM ANALYZEd before each (autovacuum's work between two
nights: this bench leaves dead rows behind, and the server may run without
autovacuum); then
each page in-process (Flask test client, one logged-in client per profile)
from the app's Server-Timing header, next to a bare Flask endpoint on the same
app, in one table with the load average. A warm-up
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
    ap.add_argument("--explain", action="store_true",
                    help="print EXPLAIN (ANALYZE, BUFFERS) of each page's slowest query")
    ap.add_argument("--only", default="", help="time only the pages whose name holds this text")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one request of each page")
    ap.add_argument("--cold", action="store_true",
                    help="drop the sums of rolled days this process keeps (statistics._past) before each request: "
                         "every view is the first one after the nightly rollup changed the stat tables' version")
    ap.add_argument("--no-gc-freeze", dest="gc_freeze", action="store_false",
                    help="leave the application's objects to the garbage collector, with Python's thresholds. By "
                         "default they are frozen once set up and the thresholds are ep_web.gctune's, as "
                         "deploy/gunicorn.conf.py does in the master before it forks the workers")
    ap.add_argument("--gc-threshold", default="",
                    help="the collector's thresholds, e.g. 700,10,10 (Python's default), instead of ep_web.gctune's")
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
            # What the nightly job leaves to autovacuum (the stat tables' settings, migrations
            # 0016 and 0019), done at once after a backfill: statistics for the planner, and
            # a visibility map for the index-only scans.
            t0 = time.perf_counter()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in ("stat_day", "stat_month", "stat_year", "stat_month_table", "stat_year_table"):
                    conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
            print(f"VACUUM ANALYZE of the stat tables: {time.perf_counter() - t0:.1f} s")
        n_day = db.session.scalar(select(func.count()).select_from(StatDay))
        n_month = db.session.scalar(select(func.count()).select_from(StatMonth))
        print(f"stat_day: {n_day} rows, stat_month: {n_month} rows")

        # The rollup of a full day: the busiest finished day of the last 31 days.
        since = today() - timedelta(days=31)
        busiest = db.session.execute(select(StatDay.day, func.sum(StatDay.created + StatDay.closed))
                                     .where(StatDay.day >= since).group_by(StatDay.day)
                                     .order_by(func.sum(StatDay.created + StatDay.closed).desc()).limit(1)).first()
        day = busiest[0] if busiest else today() - timedelta(days=1)
        from sqlalchemy import text

        def cpu():
            """CPU seconds of this thread and of the PostgreSQL backend serving the session
            (/proc: same machine): readable when the machine is busy, unlike the wall time."""
            pid = db.session.scalar(text("SELECT pg_backend_pid()"))
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                backend = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except OSError:
                backend = float("nan")
            return time.thread_time(), backend

        def vacuum():
            """What autovacuum does between two nights (the stat tables' thresholds,
            migrations 0016 and 0019), done here: the bench server may run without
            autovacuum, and each roll timed here leaves dead rows behind."""
            t0 = time.perf_counter()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in ("stat_day", "stat_month", "stat_year", "stat_month_table", "stat_year_table"):
                    conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
            return time.perf_counter() - t0

        vacuumed = vacuum()
        times, cpus = [], []
        for _ in range(3):
            c0 = cpu()
            t0 = time.perf_counter()
            rows = statistics.rollup_days(day, day)  # stat_day rewritten, its month updated by difference
            db.session.flush()
            c1 = cpu()
            db.session.commit()
            times.append(time.perf_counter() - t0)
            cpus.append((c1[0] - c0[0], c1[1] - c0[1]))
        rollup_line = (f"rollup of one full day ({day}, {busiest[1] if busiest else 0} facts, {rows} stat_day rows), "
                       f"rolled again (stat tables VACUUM ANALYZEd before, {vacuumed:.1f} s): best {min(times):.2f} s, "
                       f"worst {max(times):.2f} s (stat_day rewritten, its month and year updated); CPU python + "
                       f"PostgreSQL: " + ", ".join(f"{a:.2f} + {b:.2f} s" for a, b in cpus))
        # The first roll of that day (what the nightly job does): the day is first taken
        # out of stat_day, stat_month, stat_year and the tables' rows and committed, the
        # stat tables VACUUM ANALYZEd (neither timed), then rolled and committed as the
        # nightly job does (timed, commit included): the day ends as it began.
        firsts, first_cpus = [], []
        for _ in range(2):
            statistics.take_out_days(day, day)
            db.session.commit()
            vacuum()
            c0 = cpu()
            t0 = time.perf_counter()
            statistics.rollup_days(day, day)
            db.session.flush()
            c1 = cpu()
            db.session.commit()
            firsts.append(time.perf_counter() - t0)
            first_cpus.append((c1[0] - c0[0], c1[1] - c0[1]))
        rollup_line += (f"\nfirst roll of that day (the nightly job's case: stat_day written, {rows} keys added into "
                        f"stat_month, stat_year and the tables' rows, after a VACUUM ANALYZE; commit included): best "
                        f"{min(firsts):.2f} s, worst {max(firsts):.2f} s; CPU python + PostgreSQL: "
                        + ", ".join(f"{a:.2f} + {b:.2f} s" for a, b in first_cpus))
        print(rollup_line)

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
                            cgu_version=cgu, **kw)
                db.session.add(a)
            for k, v in kw.items():
                setattr(a, k, v)
            a.cgu_version, a.password_hash, a.status, a.password_changed_at = cgu, pw, AccountStatus.ACTIVE, now()
            # The admins' second factor: a grace period, as bench/home.py does (the pages are what is timed).
            a.second_factor_grace_until = now() + timedelta(days=365)
            db.session.commit()
            return a.login

        logins = {
            "admin_caisse": account("BSTATADM", Profile.ADMIN_CAISSE, caisse_id=big_caisse),
            "admin_national": account("BSTATNAT", Profile.ADMIN_NATIONAL),
            "gestionnaire": account("BSTATGES", Profile.GESTIONNAIRE, partenaire_id=big_partner),
            "technicien": account("BSTATTEC", Profile.TECHNICIEN, partenaire_id=big_partner),
        }
        year = today().year
        # Today's facts are read live on every page: say how many there are (load_demandes.py
        # clamps the closures it draws in the future to the load instant, so "today" holds
        # some ten days of closures when the data was loaded today).
        from ep_web.domain.statistics import day_start
        from ep_web.models import Demande

        def closed_on(day):
            return db.session.scalar(select(func.count()).select_from(Demande).where(
                Demande.closed_at >= day_start(day), Demande.closed_at < day_start(day + timedelta(days=1))))

        yesterday = closed_on(today() - timedelta(days=1))
        print(f"demandes closed today so far: {closed_on(today())}, yesterday: {yesterday}")
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
    pages.insert(2, ("indicators: caisse table (year, page 3)", "admin_caisse", f"/indicateurs?annee={year}&page=3"))
    pages.insert(3, ("indicators: caisse table (year, by signalements)", "admin_caisse",
                     f"/indicateurs?annee={year}&tri=signalements&ordre=desc"))
    pages.insert(7, ("indicators: export CSV (caisse)", "admin_caisse", f"/indicateurs/export.csv?annee={year}"))
    pages.insert(10, ("bilan: XLSX", "admin_caisse", f"/indicateurs/conventions/{convention}/bilan.xlsx?annee={year}"))
    if args.only:
        pages = [p for p in pages if args.only in p[0] or p[1] == "bare"]

    queries = []
    if args.explain:
        from sqlalchemy import event

        with app.app_context():
            engine = db.engine

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):
            conn.info["t0"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):
            queries.append((time.perf_counter() - conn.info.pop("t0", time.perf_counter()), statement, parameters))

    # Time spent in Python's garbage collector, per request (a suspect for p95 >> p50).
    import gc

    gc_time = {"t0": 0.0, "total": 0.0, "gen2": 0}

    def _gc(phase, info):
        if phase == "start":
            gc_time["t0"] = time.perf_counter()
        else:
            gc_time["total"] += time.perf_counter() - gc_time["t0"]
            gc_time["gen2"] += info["generation"] == 2

    gc.callbacks.append(_gc)
    if args.gc_freeze:
        from ep_web import gctune

        gctune.tune()  # as deploy/gunicorn.conf.py does before forking a worker
        if args.gc_threshold:
            gc.set_threshold(*[int(x) for x in args.gc_threshold.split(",")])
    print(f"garbage collector thresholds: {gc.get_threshold()}")
    print(f"objects tracked by the garbage collector: {len(gc.get_objects())}"
          f"{' (after gc.freeze(): ' + str(gc.get_freeze_count()) + ' frozen)' if args.gc_freeze else ''}")
    results = []
    for name, who, url in pages:
        client = clients[who]
        durations, cpu, gcs, gen2 = [], [], [], 0
        for i in range(args.rounds + 3):
            gc_time["total"], gc_time["gen2"] = 0.0, 0
            if args.cold:
                statistics._past = statistics._Past()
            c0 = time.thread_time()
            resp = client.get(url)
            resp.get_data()
            c1 = time.thread_time()
            assert resp.status_code == 200, (name, resp.status_code, resp.headers.get("Location"))
            if i >= 3:
                durations.append(float(re.search(r"dur=([\d.]+)", resp.headers["Server-Timing"]).group(1)))
                cpu.append((c1 - c0) * 1000)
                gcs.append(gc_time["total"] * 1000)
                gen2 += gc_time["gen2"]
        results.append((name, stats.median(durations), pct(durations, 95), max(durations), stats.median(cpu),
                        pct(cpu, 95), max(gcs), gen2))
        if args.explain:
            queries.clear()
            if args.cold:
                statistics._past = statistics._Past()
            client.get(url)
            count = len(queries)
            for took, statement, _ in queries:
                print(f"    {took * 1000:6.1f} ms  {' '.join(statement.split())[:150]}")
            if queries:
                slowest = max(queries, key=lambda q: q[0])
                with app.app_context():
                    raw = db.engine.raw_connection()
                    try:
                        cur = raw.cursor()
                        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest[1], slowest[2])
                        plan = "\n".join("    " + r[0] for r in cur.fetchall())
                    finally:
                        raw.close()
                print(f"\n--- {name}: {count} queries, the slowest ({slowest[0] * 1000:.1f} ms):\n"
                      f"    {slowest[1][:600]}\n{plan[:3000]}")
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            if args.cold:
                statistics._past = statistics._Past()
            profiler.enable()
            client.get(url)
            profiler.disable()
            print(f"\n--- {name}: profile")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats("ep_web|templates", 30)
    load = os.getloadavg()
    print(f"\n{rollup_line}")
    print(f"load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    print(f"\n{'page (server time, in process)':50} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'cpu p50':>8} "
          f"{'cpu p95':>8} {'gc max':>7} {'gen2':>5}  target p95 <= 50 ms")
    for name, p50, p95, worst, cpu50, cpu95, gc_max, gen2 in results:
        flag = "" if name.startswith("bare") else ("ok" if p95 <= 50 else f"over by {p95 - 50:.0f} ms")
        print(f"{name:50} {p50:8.1f} {p95:8.1f} {worst:8.1f} {cpu50:8.1f} {cpu95:8.1f} {gc_max:7.1f} {gen2:5d}  "
              f"{flag}")
    print("(cpu: this thread's CPU time for the request, client included, PostgreSQL excluded; gc max: the "
          "longest time one request spent in Python's garbage collector; gen2: full collections during the "
          "timed requests)")


if __name__ == "__main__":
    main()
