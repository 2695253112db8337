#!/usr/bin/env python3
"""p50/p95 server time of the header's counts (the bell) and of the « À
traiter » home of each profile under gunicorn, on the data of
bench/load_demandes.py (issue 13, target p95 ≤ 15 ms for the counts).

    createdb -h 127.0.0.1 -U postgres bench_home
    export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_home
    .venv/bin/python bench/load_demandes.py          # once: 1 000 000 demandes
    .venv/bin/python bench/home.py [--requests 400]

On top of the loaded data (migrated to the current head first) it adds, once:
notifications for every technicien (5 each, 2 unread; 3 000 with 500 unread
for the busiest one), agents holding the demandes « prise en charge » with one
in ten answered by the structure, a référent for the largest caisse and a
national admin. Server time is the app's Server-Timing header; the client is
one process on loopback doing sequential requests. A warm-up round is not counted.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pages import ROOT, Client, free_port, pct  # noqa: E402


def seed(conn) -> None:
    if conn.execute("SELECT count(*) FROM notification").fetchone()[0]:
        return
    t0 = time.perf_counter()
    conn.execute("""
        INSERT INTO notification (account_id, kind, event, text, link, demande_id, created_at, read_at, digest_pending)
        SELECT a.id, 'demande', CASE WHEN g % 2 = 0 THEN 'reply' ELSE 'status' END,
               'Demande EP-B-' || lpad(a.id::text, 9, '0') || ' : nouvelle réponse de la caisse',
               '/demandes/1', NULL, now() - (g || ' hours')::interval,
               CASE WHEN g > 2 THEN now() ELSE NULL END, false
        FROM account a CROSS JOIN generate_series(1, 5) g WHERE a.profile = 'technicien'""")
    busiest = conn.execute("SELECT author_id FROM demande GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    conn.execute("""
        INSERT INTO notification (account_id, kind, event, text, link, created_at, read_at, digest_pending)
        SELECT %s, 'complement', 'complement', 'Demande EP-B : un complément vous est demandé', '/demandes/1',
               now() - (g || ' minutes')::interval, CASE WHEN g > 500 THEN now() ELSE NULL END, false
        FROM generate_series(1, 3000) g""", (busiest,))
    # Agents hold the demandes « prise en charge »; the structure answered one in ten.
    conn.execute("""
        UPDATE demande d SET assigned_to_id = (SELECT min(a.id) FROM account a WHERE a.caisse_id = d.caisse_id
                                               AND a.profile = 'agent'),
               partner_replied_at = CASE WHEN d.id % 10 = 0 THEN d.updated_at END
        WHERE d.status IN ('prise_en_charge', 'attente_complement')""")
    pw = conn.execute("SELECT password_hash FROM account LIMIT 1").fetchone()[0]
    conn.execute("""
        INSERT INTO account (login, profile, status, civilite, prenom, nom, email, caisse_id, password_hash,
                             password_changed_at, session_nonce, cgu_version, created_at, last_login_at, fonction,
                             telephone, inactivation_reason, news_digest)
        VALUES ('RBENCH01', 'admin_caisse', 'active', 'Mme', 'Ref', 'Bench', 'ref@c1.example', 1, %s, now(),
                'nref', 1, now(), now(), '', '', '', false),
               ('NBENCH01', 'admin_national', 'active', 'M.', 'Nat', 'Bench', 'nat@national.example', NULL, %s,
                now(), 'nnat', 1, now(), now(), '', '', '', false)""", (pw, pw))
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE")
    conn.autocommit = False
    print(f"seeded notifications, assignments and admins in {time.perf_counter() - t0:.1f} s", flush=True)


def timed(client: Client, path: str, ok=(200, 204)) -> float:
    import re

    req = urllib.request.Request(client.base + path, headers={"HX-Request": "true"} if "compteur" in path else {})
    with client.opener.open(req, timeout=30) as resp:
        assert resp.status in ok, (resp.status, path)
        resp.read()
        return float(re.search(r"dur=([\d.]+)", resp.headers["Server-Timing"]).group(1))


def in_process(url: str, logins: list[str], n: int) -> dict:
    """The counts alone (the domain functions, their SQL round trips included),
    in this process: what the pages add to a bare request."""
    from sqlalchemy import select

    from ep_web import create_app
    from ep_web.domain import home, notifications
    from ep_web.extensions import db
    from ep_web.models import Account

    app = create_app({"SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1)})
    out = {}
    with app.test_request_context():
        for login in logins:
            user = db.session.scalar(select(Account).where(Account.login == login))
            for label, fn in ((f"counts in process: bell of {user.profile.value} {login}", notifications.unread_count),
                              (f"counts in process: À traiter of {user.profile.value} {login}", home.counters)):
                for _ in range(10):
                    fn(user)
                times = []
                for _ in range(n):
                    t = time.perf_counter()
                    fn(user)
                    times.append((time.perf_counter() - t) * 1000)
                out[label] = times
        db.session.remove()
        db.engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=400, help="per measure")
    args = ap.parse_args()
    url = os.environ["DATABASE_URL"]
    import psycopg

    env = dict(os.environ, EP_INSECURE_COOKIES="1", EP_SECRET_KEY="bench", PYTHONPATH=ROOT)
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    with psycopg.connect(url) as conn:
        seed(conn)
        total = conn.execute("SELECT count(*) FROM demande").fetchone()[0]
        notes = conn.execute("SELECT count(*) FROM notification").fetchone()[0]
        busiest = conn.execute("SELECT a.login, count(*) FROM notification n JOIN account a ON a.id = n.account_id "
                               "WHERE n.read_at IS NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 1").fetchone()
        big_p = conn.execute("SELECT partenaire_id FROM demande GROUP BY 1 ORDER BY count(*) DESC "
                             "LIMIT 1").fetchone()[0]
        big_tech = conn.execute("SELECT login FROM account WHERE partenaire_id = %s AND profile = 'technicien' "
                                "ORDER BY id LIMIT 1", (big_p,)).fetchone()[0]
        typical = conn.execute("SELECT login FROM account WHERE profile = 'technicien' ORDER BY id "
                               "OFFSET 20000 LIMIT 1").fetchone()[0]
        big_c, big_open = conn.execute("SELECT caisse_id, count(*) FROM demande WHERE status <> 'cloturee' "
                                       "GROUP BY 1 ORDER BY 2 DESC LIMIT 1").fetchone()
        agent = conn.execute("SELECT a.login FROM account a WHERE a.caisse_id = %s AND a.profile = 'agent' "
                             "ORDER BY id LIMIT 1", (big_c,)).fetchone()[0]

    port = free_port()
    server = subprocess.Popen(
        [os.path.join(ROOT, ".venv", "bin", "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level",
         "warning", "app:app"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/connexion", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        measures = [
            ("floor: /healthz (no session, no query)", None, "/healthz"),
            (f"bell, busiest technicien ({busiest[1]} unread)", busiest[0], "/notifications/compteur"),
            ("bell, unchanged (204), busiest technicien", busiest[0], "/notifications/compteur?vu=100"),
            ("bell, typical technicien", typical, "/notifications/compteur"),
            ("bell, agent of the largest caisse", agent, "/notifications/compteur"),
            ("À traiter, technicien of the largest structure", big_tech, "/"),
            ("À traiter, busiest technicien", busiest[0], "/"),
            (f"À traiter, agent of the largest caisse ({big_open} open)", agent, "/"),
            ("À traiter, référent of caisse 1", "RBENCH01", "/"),
            ("À traiter, national", "NBENCH01", "/"),
            ("queue tab « la structure a répondu », largest caisse", agent, "/traitement?onglet=reponse-partenaire"),
        ]
        results = {}
        for label, login, path in measures:
            client = Client(base)
            if login:
                client.login(login)
            for _ in range(20):  # warm-up
                timed(client, path)
            results[label] = [timed(client, path) for _ in range(args.requests)]
        results.update(in_process(url, [busiest[0], typical, big_tech, agent, "RBENCH01", "NBENCH01"],
                                  args.requests))
        print(f"\n{total} demandes, {notes} notifications; gunicorn 2 sync workers; {args.requests} requests each\n")
        print(f"{'measure':<62} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for label, times in results.items():
            print(f"{label:<62} {statistics.median(times):8.1f} {pct(times, 95):8.1f} {max(times):8.1f}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
