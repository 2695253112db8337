#!/usr/bin/env python3
"""p50/p95 server time of the technicien history (with filters) and of the caisse
queue under gunicorn, on the data of bench/load_demandes.py (issue 3, target
p95 ≤ 30 ms on a 2-core machine).

    createdb -h 127.0.0.1 -U postgres bench_pages
    export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_pages
    .venv/bin/python bench/load_demandes.py          # once: 1 000 000 demandes
    .venv/bin/python bench/pages.py [--requests 400]

Server time is the app's Server-Timing header (first before_request hook to
after_request: session checks, queries, template); the client is one process
on loopback doing sequential requests, so the two gunicorn workers never queue.
A warm-up round is not counted.
"""
import argparse
import http.cookiejar
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "Bench-Partenaires-2026!"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str):
        with self.opener.open(self.base + path, timeout=30) as resp:
            return resp.status, resp.headers, resp.read().decode()

    def login(self, login: str) -> None:
        _, _, html = self.get("/connexion")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
        data = urllib.parse.urlencode({"csrf_token": token, "login": login, "password": PASSWORD}).encode()
        with self.opener.open(self.base + "/connexion", data=data, timeout=30) as resp:
            assert "/connexion" not in resp.url, f"login failed for {login}"

    def timed(self, path: str) -> float:
        status, headers, body = self.get(path)
        assert status == 200, (status, path)
        return float(re.search(r"dur=([\d.]+)", headers["Server-Timing"]).group(1))


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=400, help="per page kind")
    args = ap.parse_args()
    url = os.environ["DATABASE_URL"]
    import psycopg

    env = dict(os.environ, EP_INSECURE_COOKIES="1", EP_ENV="test", PYTHONPATH=ROOT)
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    with psycopg.connect(url) as conn:
        conn.execute("ANALYZE")
        big_p, big_n = conn.execute("SELECT partenaire_id, count(*) FROM demande GROUP BY 1 ORDER BY 2 DESC "
                                    "LIMIT 1").fetchone()
        typ_p, typ_n = conn.execute("SELECT partenaire_id, n FROM (SELECT partenaire_id, count(*) n FROM demande "
                                    "GROUP BY 1) x ORDER BY n LIMIT 1 OFFSET (SELECT count(DISTINCT partenaire_id) "
                                    "FROM demande) / 2").fetchone()
        big_c, big_open = conn.execute("SELECT caisse_id, count(*) FROM demande WHERE status <> 'cloturee' "
                                       "GROUP BY 1 ORDER BY 2 DESC LIMIT 1").fetchone()
        total = conn.execute("SELECT count(*) FROM demande").fetchone()[0]
        tech = lambda p: conn.execute("SELECT login FROM account WHERE partenaire_id = %s AND profile = "  # noqa
                                      "'technicien' ORDER BY id LIMIT 1", (p,)).fetchone()[0]
        authors = lambda p: [r[0] for r in conn.execute("SELECT id FROM account WHERE partenaire_id = %s", (p,))]  # noqa
        logins = {"big": tech(big_p), "typical": tech(typ_p)}
        agent = conn.execute("SELECT login FROM account WHERE caisse_id = %s AND profile = 'agent' LIMIT 1",
                             (big_c,)).fetchone()[0]
        caisses = {p: [r[0] for r in conn.execute("SELECT caisse_id FROM convention WHERE partenaire_id = %s", (p,))]
                   for p in (big_p, typ_p)}
        author_ids = {p: authors(p) for p in (big_p, typ_p)}

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
        rnd = random.Random(1)
        names = ["martin", "dub", "lea", "moreau hugo", "ri", "petit"]

        def history_paths(p):
            for i in range(args.requests):
                params = {}
                kind = i % 8
                if kind == 1:
                    params["service"] = rnd.choice(["contact", "signalement", "document"])
                elif kind == 2:
                    params["status"] = rnd.choice(["transmise", "cloturee", "prise_en_charge"])
                elif kind == 3:
                    params["q"] = rnd.choice(names)
                elif kind == 4:
                    params["caisse_id"] = rnd.choice(caisses[p])
                    params["author_id"] = rnd.choice(author_ids[p])
                elif kind == 5:
                    params["date_from"] = "01/01/2026"
                    params["date_to"] = "30/06/2026"
                elif kind == 6:
                    params["page"] = rnd.randint(2, 50)
                elif kind == 7:
                    params.update(service="signalement", status="cloturee", q=rnd.choice(names))
                yield "/demandes?" + urllib.parse.urlencode(params)

        def queue_paths():
            for i in range(args.requests):
                params = {}
                kind = i % 7
                if kind == 1:
                    params["statut"] = rnd.choice(["transmise", "cloturee", "attente_complement"])
                elif kind == 2:
                    params["service"] = "signalement"
                elif kind == 3:
                    params["q"] = rnd.choice(names)
                elif kind == 4:
                    params["urgent"] = "y"
                elif kind == 5:
                    params["page"] = rnd.randint(2, 50)
                elif kind == 6:
                    params.update(du="01/01/2026", au="30/06/2026")
                yield "/traitement?" + urllib.parse.urlencode(params)

        results, slow = {}, {}
        for label, login, paths in (
            (f"history, largest structure ({big_n} demandes)", logins["big"], lambda: history_paths(big_p)),
            (f"history, median structure ({typ_n} demandes)", logins["typical"], lambda: history_paths(typ_p)),
            (f"caisse queue, largest caisse ({big_open} open)", agent, queue_paths),
        ):
            client = Client(base)
            client.login(login)
            for path in list(paths())[:30]:  # warm-up
                client.timed(path)
            pairs = [(path, client.timed(path)) for path in paths()]
            results[label] = [t for _, t in pairs]
            slow[label] = sorted(pairs, key=lambda p: -p[1])[:5]
        print(f"\n{total} demandes; gunicorn 2 sync workers; {args.requests} requests per page kind\n")
        print(f"{'page':<50} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for label, times in results.items():
            print(f"{label:<50} {statistics.median(times):8.1f} {pct(times, 95):8.1f} {max(times):8.1f}")
        if os.environ.get("BENCH_VERBOSE"):
            for label, pairs in slow.items():
                print(f"\nslowest of {label}:")
                for path, t in pairs:
                    print(f"  {t:8.1f} ms  {path}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
