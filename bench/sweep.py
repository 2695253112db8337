"""Benchmark of the nightly sweep on PostgreSQL (a script, not a test).

    createdb -h 127.0.0.1 -U postgres bench_sweep
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_sweep .venv/bin/python bench/sweep.py

It recreates the schema of that database (DROP SCHEMA public CASCADE: give it a
database of its own), migrates it, loads fictitious data with COPY —
200 000 accounts, 20 000 conventions, 15 000 partners, 101 caisses, 50 000
demandes with their events and messages — then runs, in a fresh process, the
whole nightly sweep once (the 8 nightly jobs plus the signalement alerts,
journaled and committed as in production) and reports its wall time and the
peak memory of that process (VmHWM). Targets: ≤ 5 s and ≤ 200 MB on a
2-core machine.

The data is a steady state, as if the sweep had run every night before: the
rows that reach a date *tonight* are about one night's worth (≈ 1/91 of the
idle techniciens get their warning, ≈ 1/183 of the inactive accounts are
deleted, ≈ 1/365 of the conventions reach their end…). ``--catch-up`` makes
the first night after months without any sweep instead (every rule has a
backlog). Then the same sweep runs a second time (idempotent: nothing to do),
and the e-mails written are sent (to a local folder; in production RQ workers
send them, in parallel, so it is reported apart).

With REDIS_URL / EP_TEST_REDIS_URL reachable, the sweep queues its flush jobs
on Redis (queue ``bench-sweep``, emptied at the end), as in production;
without Redis the flush would run inside the sweep, so ``REDIS_URL`` is
required unless ``--no-redis`` (then sending is inside the sweep's time).
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# 00:05 in Paris on 15 June 2026 (summer time: 22:05 UTC the day before).
NOW = datetime(2026, 6, 14, 22, 5, tzinfo=timezone.utc)
TODAY = date(2026, 6, 15)
QUEUE = "bench-sweep"
SERVICES = json.dumps(["contact", "etude_dossier", "suivi_ame", "signalement", "rendez_vous", "document"])


def _pg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://").replace("postgres://", "postgresql://")


def _sa_url(url: str) -> str:
    return "postgresql+psycopg://" + _pg_url(url)[len("postgresql://"):]


# ---------------------------------------------------------------- load

def migrate(url: str) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import text

    from ep_web import create_app
    from ep_web.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": _sa_url(url), "TESTING": True})
    with app.app_context():
        db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.session.commit()
        upgrade()
        db.engine.dispose()


def load(url: str, n_accounts: int, n_conventions: int, n_demandes: int, catch_up: bool, seed: int = 4) -> dict:
    import psycopg

    rnd = random.Random(seed)
    # Catching up: the sweep has not run for 4 months, nothing of it is reflected in the data.
    lag = timedelta(days=120) if catch_up else timedelta(0)
    day = timedelta(days=1)
    stats = {}

    def ago(days_max: float, days_min: float = 0.0) -> datetime:
        return NOW - timedelta(days=rnd.uniform(days_min, days_max))

    with psycopg.connect(_pg_url(url)) as conn, conn.cursor() as cur:
        # Caisses: 101, ten of which turned the idle rule off.
        with cur.copy("COPY caisse (id, name, code, departements, address, referent_email, autre_canal, "
                      "idle_inactivation_enabled, created_at) FROM STDIN") as cp:
            for i in range(1, 102):
                cp.write_row((i, f"CPAM Fictive {i}", f"B{i:03d}", f"{i % 95 + 1:02d}", "", f"referent{i}@cpam.example",
                              "Téléphone", i % 10 != 0, NOW - timedelta(days=900)))
        # Partners and conventions.
        n_partners = max(1, int(n_conventions * 0.75))
        second = n_conventions - n_partners
        conv_rows, ended_partners = [], set()
        with cur.copy("COPY partenaire (id, name, address, type, members, habilite_documents, email_domains, "
                      "referent_name, referent_email, dpo_name, dpo_email, suspended_reason, lock_version, "
                      "created_at) FROM STDIN") as cp:
            for p in range(1, n_partners + 1):
                cp.write_row((p, f"Structure fictive {p}", "", "ccas", 30, False, f"s{p}.example", "", "", "", "",
                              "", 0, NOW - timedelta(days=800)))
        cid = 0
        for p in range(1, n_partners + 1):
            caisses = [p % 101 + 1] + ([(p * 7) % 101 + 1] if p <= second else [])
            for k, c in enumerate(caisses):
                cid += 1
                roll = rnd.random()
                if roll < 0.04 and k == 0 and len(caisses) == 1:  # ended long ago: its accounts are inactive
                    state, ends_on = "terminee", TODAY - timedelta(days=rnd.randint(30, 600))
                    ended_partners.add(p)
                else:
                    # In force; about a night's worth reach their end date tonight (or ~120 nights' worth).
                    span = (lag.days + 1) if catch_up else 1
                    ends_on = TODAY - timedelta(days=rnd.randint(1, span)) if rnd.random() < span / 365 \
                        else TODAY + timedelta(days=rnd.randint(0, 363))
                    state = "denoncee" if rnd.random() < 0.08 else "active"
                tacit = state == "active" and rnd.random() > 0.03
                conv_rows.append((cid, p, c, ends_on - timedelta(days=365), ends_on, tacit, state, SERVICES, "",
                                  NOW - timedelta(days=800)))
        with cur.copy("COPY convention (id, partenaire_id, caisse_id, signed_on, ends_on, tacit_renewal, state, "
                      "services, end_reason, created_at) FROM STDIN") as cp:
            for row in conv_rows:
                cp.write_row(row)
        stats["conventions"] = len(conv_rows)
        stats["partenaires"] = n_partners

        # Accounts.
        acc_id = 0
        techniciens: list[tuple[int, int]] = []  # (id, partenaire)
        cols = ("id, login, profile, status, civilite, nom, prenom, fonction, telephone, email, partenaire_id, "
                "caisse_id, manager_id, password_hash, password_changed_at, cgu_version, "
                "activated_at, last_login_at, inactivated_at, inactivation_reason, scheduled_inactivation_on, "
                "deleted_at, idle_warning_sent_at, created_at, password_reminder_sent_at")

        def account(profile, partenaire=None, caisse=None, manager=None, ended=False):
            nonlocal acc_id
            acc_id += 1
            created = ago(800, 200)
            changed = ago(365)
            # Reminded on an earlier night, except the passwords that reached the window since the last one.
            reminded = changed + timedelta(days=351, hours=1) if changed + timedelta(days=352) <= NOW - lag else None
            row = dict(id=acc_id, login=f"{profile[0].upper()}B{acc_id:07d}", profile=profile, status="active",
                       civilite="Mme", nom=f"Nom{acc_id}", prenom="Prénom", fonction="", telephone="",
                       email=f"u{acc_id}@s{partenaire or 0}.example", partenaire_id=partenaire, caisse_id=caisse,
                       manager_id=manager, password_hash="$argon2id$fictif", password_changed_at=changed,
                       cgu_version=1, activated_at=created + day,
                       last_login_at=None, inactivated_at=None, inactivation_reason="",
                       scheduled_inactivation_on=None, deleted_at=None, idle_warning_sent_at=None,
                       created_at=created, password_reminder_sent_at=reminded)
            roll = rnd.random()
            if ended or roll < 0.10:
                # Up to 184 days: the oldest night's worth is deleted tonight.
                row.update(status="inactive", inactivated_at=ago(184 + lag.days),
                           inactivation_reason="Fin de convention" if ended else "Départ")
            elif roll < 0.12:
                row.update(status="deleted", nom="", prenom="", email="", password_hash=None,
                           inactivated_at=ago(600, 190), deleted_at=ago(180))
            elif roll < 0.14:
                row.update(status="pending", activated_at=None, password_hash=None, password_changed_at=None,
                           password_reminder_sent_at=None, created_at=ago(80))
            else:
                # 70 % used it within two weeks, 30 % at any time within the idle window.
                # (up to 92 days: the oldest night's worth is inactivated tonight).
                idle = rnd.uniform(0, 14) if rnd.random() < 0.7 else rnd.uniform(0, 92 + lag.days)
                row["last_login_at"] = NOW - timedelta(days=idle)
                warned = row["last_login_at"] + timedelta(days=84, hours=1)
                if profile == "technicien" and warned <= NOW - lag - day / 2:
                    row["idle_warning_sent_at"] = warned
            return row

        with cur.copy(f"COPY account ({cols}) FROM STDIN") as cp:
            names = cols.split(", ")
            for _ in range(1, 6):
                row = account("admin_national")
                cp.write_row(tuple(row[k] for k in names))
            for c in range(1, 102):
                for j in range(10):
                    row = account("admin_caisse" if j < 2 else "agent", caisse=c)
                    cp.write_row(tuple(row[k] for k in names))
            n_tech = n_accounts - acc_id - 2 * n_partners
            per_partner = n_tech / n_partners
            made = 0.0
            for p in range(1, n_partners + 1):
                ended = p in ended_partners
                gs = []
                for _ in range(2):
                    row = account("gestionnaire", partenaire=p, ended=ended)
                    if row["status"] == "active" and rnd.random() < 0.0007:
                        row["scheduled_inactivation_on"] = TODAY
                    cp.write_row(tuple(row[k] for k in names))
                    if row["status"] == "active":  # techniciens are attached to an active gestionnaire
                        gs.append(row["id"])
                gs = gs or [None]
                made += per_partner
                while acc_id < 5 + 1010 + 2 * p + int(made) and acc_id < n_accounts:
                    row = account("technicien", partenaire=p, manager=rnd.choice(gs), ended=ended)
                    cp.write_row(tuple(row[k] for k in names))
                    techniciens.append((row["id"], p))
        stats["accounts"] = acc_id

        # Habilitation reviews: 300 open, deadlines spread over two months.
        with cur.copy("COPY habilitation_review (id, partenaire_id, caisse_id, opened_by_id, opened_at, deadline, "
                      "reminded_at) FROM STDIN") as cp:
            for r in range(1, 301):
                p = rnd.randint(1, n_partners)
                deadline = TODAY + timedelta(days=rnd.randint(-10, 60))
                reminded = None
                if deadline - timedelta(days=7) < TODAY - (lag if catch_up else timedelta(0)):
                    reminded = NOW - timedelta(days=rnd.randint(0, 6))
                cp.write_row((r, p, p % 101 + 1, 6, NOW - timedelta(days=70), deadline, reminded))

        # Demandes over two years (closed ones purged after 730 days), events and messages.
        caisse_of = {p: p % 101 + 1 for p in range(1, n_partners + 1)}
        with cur.copy("COPY demande (id, reference, service, caisse_id, partenaire_id, author_id, status, "
                      "civilite, nom, prenom, date_naissance, departement, nom_search, details, message, "
                      "health_confirmed, consent, urgent, urgency_reason, duplicate_confirmed, created_at, "
                      "updated_at, due_at, alert_sent_at, closed_at) FROM STDIN") as cp_d:
            demande_rows = []
            for d in range(1, n_demandes + 1):
                author, p = techniciens[rnd.randrange(len(techniciens))]
                signalement = rnd.random() < 0.15
                closed = rnd.random() < 0.7
                if closed:  # closed up to 731 days ago: the oldest night's worth is purged tonight
                    closed_at = ago(731 + lag.days)
                    created = closed_at - timedelta(days=rnd.uniform(1, 20))
                    status = "cloturee"
                else:
                    created, closed_at, status = ago(10), None, "transmise"
                due = created + timedelta(hours=48) if signalement else None
                alerted = None
                if due is not None and due - timedelta(hours=12) <= NOW - timedelta(minutes=15) - lag:
                    alerted = due - timedelta(hours=12)
                demande_rows.append((d, created))
                cp_d.write_row((d, f"EP-B-{d:07d}", "signalement" if signalement else "contact", caisse_of[p], p,
                                author, status, "Mme", "Fictive", "Camille", date(1980, 1, 1), "74",
                                "fictive camille", "{}", "", False, signalement, False, "", False, created, created,
                                due, alerted, closed_at))
        with cur.copy("COPY demande_event (demande_id, at, kind, details) FROM STDIN") as cp:
            for d, created in demande_rows:
                cp.write_row((d, created, "created", "{}"))
                cp.write_row((d, created + timedelta(hours=5), "taken", "{}"))
        with cur.copy("COPY demande_message (demande_id, author_id, from_caisse, body, health_confirmed, "
                      "created_at) FROM STDIN") as cp:
            for d, created in demande_rows:
                cp.write_row((d, 6, True, "Réponse de la caisse.", False, created + timedelta(hours=6)))
        stats["demandes"] = n_demandes
        for table in ("caisse", "partenaire", "convention", "account", "habilitation_review", "demande",
                      "demande_event", "demande_message"):
            cur.execute(f"SELECT setval('{table}_id_seq', (SELECT coalesce(max(id), 1) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")
    return stats


# ---------------------------------------------------------------- sweep (child process)

def _rss_mb(field: str = "VmHWM") -> float:
    """Peak (VmHWM) or current (VmRSS) resident memory of this process, in MB.
    Not ru_maxrss: Linux carries it over execve from the forking parent (the
    loader, here), so it would not be the sweep's own peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sweep(url: str, redis_url: str) -> dict:
    from ep_web import create_app
    from ep_web.clock import FrozenClock
    from ep_web.extensions import db
    from ep_web.models import EmailStatus, OutboxEmail
    from workers.demandes import alert_signalements
    from workers.mail import send_pending
    from workers.periodic import NIGHTLY

    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": _sa_url(url), "CLOCK": FrozenClock(NOW), "REDIS_URL": redis_url,
        "RQ_QUEUE": QUEUE, "SMTP_HOST": "", "MAIL_OUTBOX_DIR": str(tmp / "outbox"), "MAIL_PRINT": False,
        "UPLOAD_DIR": str(tmp / "uploads"), "EP_ENV": "test",  # a bench: the development secret key is fine
    })
    jobs = {**NIGHTLY, "alert_signalements": alert_signalements}
    out = {"jobs": {}}
    with app.app_context():
        db.session.execute(db.text("SELECT 1"))  # connect outside the measure
        db.session.rollback()
        out["rss_before_mb"] = _rss_mb("VmRSS")
        started = time.perf_counter()
        for name, job in jobs.items():
            t0 = time.perf_counter()
            counts = job()
            out["jobs"][name] = {"counts": counts, "ms": round((time.perf_counter() - t0) * 1000)}
        out["wall_s"] = time.perf_counter() - started
        out["peak_rss_mb"] = _rss_mb()
        started = time.perf_counter()
        again = {name: job() for name, job in jobs.items()}
        out["second_wall_s"] = time.perf_counter() - started
        out["second_changes"] = {n: c for n, c in again.items() if any(c.values())}
        out["emails_written"] = db.session.scalar(db.select(db.func.count(OutboxEmail.id)))
        started = time.perf_counter()
        sent = 0
        while True:
            batch = send_pending()["sent"]
            sent += batch
            if not batch:
                break
        out["send_s"] = time.perf_counter() - started
        out["emails_sent"] = sent
        out["emails_left"] = db.session.scalar(
            db.select(db.func.count(OutboxEmail.id)).where(OutboxEmail.status != EmailStatus.SENT))
        out["peak_rss_after_send_mb"] = _rss_mb()
    if redis_url:
        from redis import Redis
        from rq import Queue

        queue = Queue(QUEUE, connection=Redis.from_url(redis_url))
        out["flush_jobs_queued"] = queue.count
        queue.empty()
        queue.delete(delete_jobs=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--conventions", type=int, default=20_000)
    parser.add_argument("--demandes", type=int, default=50_000)
    parser.add_argument("--catch-up", action="store_true", help="the first sweep after 4 months without any")
    parser.add_argument("--skip-load", action="store_true", help="reuse the data already loaded (not idempotent: "
                                                                  "a second sweep has nothing left to do)")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--sweep-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres", "postgresql")):
        sys.exit("DATABASE_URL=postgresql://…/bench_sweep is required (a database of its own: it is wiped).")
    redis_url = "" if args.no_redis else (os.environ.get("REDIS_URL") or os.environ.get("EP_TEST_REDIS_URL")
                                          or "redis://127.0.0.1:6379/14")
    if args.sweep_only:
        print(json.dumps(sweep(url, redis_url)))
        return
    if redis_url:
        from redis import Redis

        try:
            Redis.from_url(redis_url, socket_connect_timeout=2).ping()
        except Exception as exc:
            sys.exit(f"Redis unreachable at {redis_url} ({exc}); pass --no-redis to send inside the sweep.")

    if not args.skip_load:
        t0 = time.perf_counter()
        migrate(url)
        stats = load(url, args.accounts, args.conventions, args.demandes, args.catch_up)
        print(f"loaded in {time.perf_counter() - t0:.1f} s: " + ", ".join(f"{v} {k}" for k, v in stats.items()))
    # A fresh process: its peak memory is the sweep's, not the loader's.
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    child = subprocess.run([sys.executable, __file__, "--sweep-only"] + (["--no-redis"] if args.no_redis else []),
                           env=env, cwd=ROOT, capture_output=True, text=True)
    if child.returncode:
        sys.exit(child.stderr[-4000:])
    r = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"\nnightly sweep at {NOW.isoformat()} ({'catch-up after 4 months' if args.catch_up else 'steady state'}):")
    for name, j in r["jobs"].items():
        print(f"  {name:<34} {j['ms']:>6} ms  {j['counts']}")
    print(f"\n  wall time            {r['wall_s']:.2f} s   (target ≤ 5 s)")
    print(f"  peak memory (RSS)    {r['peak_rss_mb']:.0f} MB   (target ≤ 200 MB; {r['rss_before_mb']:.0f} MB "
          f"before the sweep: interpreter, Flask, SQLAlchemy)")
    print(f"  second run           {r['second_wall_s']:.2f} s, changes: {r['second_changes'] or 'none'}")
    print(f"  e-mails written      {r['emails_written']}; flush jobs queued on Redis: "
          f"{r.get('flush_jobs_queued', 'no Redis')}")
    print(f"  sending them         {r['send_s']:.2f} s to the local outbox folder ({r['emails_sent']} sent, "
          f"{r['emails_left']} left; done by the RQ workers in production), peak RSS then "
          f"{r['peak_rss_after_send_mb']:.0f} MB")


if __name__ == "__main__":
    main()
