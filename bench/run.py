#!/usr/bin/env python3
"""Pages against the bare floor, side by side, in one run.

    .venv/bin/python bench/run.py [--databases bench_1m,bench_5m] [--rounds 3] [--duration 5]

For each database (loaded by bench/load_demandes.py, migrated here): the
product under gunicorn (2 sync workers) and the floor (bench/floor.py, same
gunicorn) on the same data; every page is measured with wrk (1 thread, 4
connections, ``--duration`` s), the pages interleaved with the floor over
``--rounds`` rounds, and the ratio taken to the floor of the same round. The
product is asked like a browser asks it (Sec-Fetch-Site: same-origin,
Accept-Encoding: gzip, br: the HTML is compressed), the floor never compresses.
Then, per page, p50/p95 of the app's own server time (its Server-Timing
header) over sequential requests; the first visit of the login and history
pages in Chromium (bytes transferred, requests) and the requests of a later
page view; each gunicorn worker's RSS after the run (well over 10 000
requests); and EXPLAIN (ANALYZE, BUFFERS) of the demande queries the history
and queue pages really send (captured from the app). Needs wrk
(apt-get install wrk) and, for the first-visit figures, /usr/bin/chromium.

The machine's load average is printed with the figures: on a shared machine
only the ratios are comparable from one run to the next.
"""
import argparse
import http.cookiejar
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
PASSWORD = "Bench-Partenaires-2026!"
GUNICORN = os.path.join(ROOT, ".venv", "bin", "gunicorn")
BROWSER = {"Sec-Fetch-Site": "same-origin", "Accept-Encoding": "gzip, br"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Client:
    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str, headers=None):
        req = urllib.request.Request(self.base + path, headers=headers or {})
        with self.opener.open(req, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()

    def login(self, login: str) -> None:
        _, _, html = self.get("/connexion")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html.decode()).group(1)
        data = urllib.parse.urlencode({"csrf_token": token, "login": login, "password": PASSWORD}).encode()
        with self.opener.open(self.base + "/connexion", data=data, timeout=60) as resp:
            assert "/connexion" not in resp.url, f"login failed for {login}"

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def server_time(self, path: str, headers=None) -> float:
        status, h, _ = self.get(path, {**BROWSER, **(headers or {})})
        assert status == 200, (status, path)
        return float(re.search(r"dur=([\d.]+)", h["Server-Timing"]).group(1))


def start(cmd, env, port):
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz" if "app:app" in cmd else
                                   f"http://127.0.0.1:{port}/?p=1", timeout=1)
            return proc
        except urllib.error.HTTPError:
            return proc
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{cmd} did not start")


def wrk(url: str, duration: int, headers: dict) -> tuple[float, int, float]:
    """(requests/s, requests, p50 latency ms) of wrk on ``url``."""
    cmd = ["wrk", "-t1", "-c4", f"-d{duration}s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    n = int(re.search(r"(\d+) requests in", out).group(1))
    if re.search(r"Non-2xx or 3xx responses", out):
        raise SystemExit(f"wrk: error responses on {url}\n{out}")
    m = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p50 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    return rps, n, p50


def rss_mb(master: subprocess.Popen) -> list[float]:
    out = []
    for pid in subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True).stdout.split():
        with open(f"/proc/{pid}/status") as f:
            kb = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        out.append(kb / 1024)
    return out


def discover(url: str) -> dict:
    import psycopg

    with psycopg.connect(url) as conn:
        one = lambda sql, *a: conn.execute(sql, a).fetchone()  # noqa: E731
        w = {"total": one("SELECT count(*) FROM demande")[0]}
        w["big_p"], w["big_n"] = one("SELECT partenaire_id, count(*) FROM demande GROUP BY 1 ORDER BY 2 DESC LIMIT 1")
        w["typ_p"], w["typ_n"] = one(
            "SELECT partenaire_id, n FROM (SELECT partenaire_id, count(*) n FROM demande GROUP BY 1) x "
            "ORDER BY n LIMIT 1 OFFSET (SELECT count(DISTINCT partenaire_id) FROM demande) / 2")
        w["big_c"], w["big_open"] = one("SELECT caisse_id, count(*) FROM demande WHERE status <> 'cloturee' "
                                        "GROUP BY 1 ORDER BY 2 DESC LIMIT 1")
        tech = "SELECT login FROM account WHERE partenaire_id = %s AND profile = 'technicien' ORDER BY id LIMIT 1"
        w["tech_big"], w["tech_typ"] = one(tech, w["big_p"])[0], one(tech, w["typ_p"])[0]
        w["agent"] = one("SELECT login FROM account WHERE caisse_id = %s AND profile = 'agent' ORDER BY id LIMIT 1",
                         w["big_c"])[0]
    return w


def pages(w) -> list[tuple[str, str, str, dict]]:
    """(label, who, path, extra headers)."""
    htmx = {"HX-Request": "true"}
    return [
        (f"history, typical structure ({w['typ_n']})", "tech_typ", "/demandes", {}),
        ("history, typical, filters + name", "tech_typ", "/demandes?service=signalement&status=cloturee&q=dub", {}),
        (f"history, largest structure ({w['big_n']})", "tech_big", "/demandes", {}),
        ("history, largest, filters", "tech_big", "/demandes?service=signalement&status=cloturee", {}),
        ("history, largest, name 'dub'", "tech_big", "/demandes?q=dub", {}),
        ("history, largest, filters + name", "tech_big", "/demandes?service=signalement&status=cloturee&q=dub", {}),
        ("history, largest, name 'martin'", "tech_big", "/demandes?q=martin", {}),
        ("history, largest, rare name 'vizo'", "tech_big", "/demandes?q=vizo", {}),
        ("history, largest, htmx fragment", "tech_big", "/demandes?service=contact&q=mar", htmx),
        (f"queue, largest caisse ({w['big_open']} open)", "agent", "/traitement", {}),
        ("queue, largest, name 'dub'", "agent", "/traitement?q=dub", {}),
        ("queue, largest, name 'martin'", "agent", "/traitement?q=martin", {}),
        ("queue, largest, closed + name", "agent", "/traitement?statut=cloturee&q=mar", {}),
        ("queue, largest, htmx fragment", "agent", "/traitement?service=signalement", htmx),
        ("home, technicien", "tech_big", "/", {}),
        ("home, agent", "agent", "/", {}),
        ("login page (anonymous)", None, "/connexion", {}),
    ]


def bench_app(url: str):
    """The app on a bench database, for in-process requests (no CSRF to carry)."""
    from ep_web import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1),
                       "WTF_CSRF_ENABLED": False})


def page_statements(app, w: dict, targets):
    """The demande queries each logged-in page of ``targets`` really sends,
    captured in-process (inside ``app``'s context; the page asked once before,
    warm): (label, path, [(statement, parameters)]) per page."""
    from sqlalchemy import event

    from ep_web.extensions import db

    captured: list = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "FROM demande" in statement and "notification" not in statement:
            captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        clients = {}
        for label, who, path, headers in targets:
            if who is None:
                continue
            if who not in clients:
                clients[who] = app.test_client()
                clients[who].post("/connexion", data={"login": w[who], "password": PASSWORD})
            clients[who].get(path, headers=headers)  # warm
            captured.clear()
            clients[who].get(path, headers=headers)
            yield label, path, list(captured)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def explain(statement: str, params) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of one captured statement, rolled back."""
    from ep_web.extensions import db

    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        plan = "\n".join(r[0] for r in raw.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement,
                                                     params).fetchall())
        conn.rollback()
    return plan


def explain_plans(url: str, w: dict, targets) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the demande queries each page sends (captured in-process)."""
    from ep_web.extensions import db

    app = bench_app(url)
    out = []
    with app.app_context():
        for label, path, statements in page_statements(app, w, targets):
            for statement, params in statements:
                out.append(f"--- {label}: {path}\n{' '.join(statement.split())[:400]}\n{explain(statement, params)}")
        db.engine.dispose()
    return out


def first_visit(base: str, login: str) -> list[str]:
    """Chromium: bytes transferred and requests for the first visit of the
    login page and of the history, then the requests of a later page view."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return ["(playwright absent: first-visit figures skipped)"]
    if not os.path.exists("/usr/bin/chromium"):
        return ["(/usr/bin/chromium absent: first-visit figures skipped)"]
    lines = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                     args=["--headless=new", "--no-sandbox", "--disable-gpu"])
        ctx = browser.new_context()
        page = ctx.new_page()
        log: list = []
        page.on("requestfinished", lambda r: log.append(r))

        def visit(path):
            log.clear()
            page.goto(base + path, wait_until="networkidle")
            total = 0
            for r in log:
                sizes = r.sizes()
                total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
            return len(log), total

        n, size = visit("/connexion")
        lines.append(f"first visit of /connexion: {n} requests, {size / 1024:.0f} KB transferred")
        page.fill("#login", login)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        ctx2 = browser.new_context()  # an empty cache for the history's first visit
        ctx2.add_cookies(ctx.cookies())
        page2 = ctx2.new_page()
        log2: list = []
        page2.on("requestfinished", lambda r: log2.append(r))
        page2.goto(base + "/demandes", wait_until="networkidle")
        size2 = sum(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"] for r in log2)
        lines.append(f"first visit of /demandes (empty cache): {len(log2)} requests, {size2 / 1024:.0f} KB")
        # Requests that reached the network (not answered from the browser's cache).
        cdp = ctx2.new_cdp_session(page2)
        cdp.send("Network.enable")
        seen: list = []
        cached: set = set()
        cdp.on("Network.requestServedFromCache", lambda e: cached.add(e["requestId"]))
        cdp.on("Network.responseReceived", lambda e: seen.append(
            (e["requestId"], e["response"]["url"], e["response"].get("fromDiskCache"))))
        page2.goto(base + "/", wait_until="networkidle")
        wire = [url for rid, url, disk in seen if rid not in cached and not disk and not url.startswith("data:")]
        lines.append(f"later page view (/ after /demandes): {len(wire)} request(s) on the network: "
                     + ", ".join(urllib.parse.urlparse(u).path for u in wire))
        browser.close()
    return lines


def bench_database(name: str, args) -> None:
    url = f"{args.server}/{name}"
    env = dict(os.environ, DATABASE_URL=url, EP_INSECURE_COOKIES="1", EP_SECRET_KEY="bench-" + "x" * 40,
               EP_ALLOW_UNSCANNED="1", PYTHONPATH=ROOT)
    os.environ.update(EP_SECRET_KEY=env["EP_SECRET_KEY"], EP_ALLOW_UNSCANNED="1")  # the in-process EXPLAIN app
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    w = discover(url)
    targets = pages(w)
    port, fport = free_port(), free_port()
    product = start([GUNICORN, "-w", "2", "-k", "sync", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                     "app:app"], env, port)
    floor = start([GUNICORN, "-w", "2", "-k", "sync", "-b", f"127.0.0.1:{fport}", "--log-level", "warning",
                   "bench.floor:app"], env, fport)
    base, floor_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{fport}/?p={w['typ_p']}"
    try:
        clients = {}
        for who in ("tech_typ", "tech_big", "agent"):
            clients[who] = Client(base)
            clients[who].login(w[who])
        clients[None] = Client(base)
        print(f"\n=== {name}: {w['total']} demandes; load average {load()} ===", flush=True)
        rps = {label: [] for label, *_ in targets}
        floor_rps, served = [], 0
        for rnd in range(args.rounds):
            for label, who, path, headers in targets:
                f, n, _ = wrk(floor_url, args.duration, {})
                floor_rps.append(f)
                h = {**BROWSER, **headers}
                if who:
                    h["Cookie"] = clients[who].cookie_header()
                r, n2, _ = wrk(base + path, args.duration, h)
                rps[label].append((r, f))
                served += n2
            print(f"  round {rnd + 1}/{args.rounds} done, load average {load()}", flush=True)
        times = {label: [] for label, *_ in targets}
        for _ in range(args.rounds):
            for label, who, path, headers in targets:
                c = clients[who]
                times[label] += [c.server_time(path, headers) for _ in range(args.sequential)]
                served += args.sequential
        print(f"\nfloor (bench/floor.py, 20 rows of one structure): {statistics.median(floor_rps):.0f} req/s "
              f"(median of {len(floor_rps)} runs)")
        print(f"{'page':<44} {'req/s':>7} {'floor':>7} {'ratio':>6} {'p50 ms':>7} {'p95 ms':>7}")
        for label, *_ in targets:
            ratios = [r / f for r, f in rps[label]]
            print(f"{label:<44} {statistics.median(r for r, _ in rps[label]):7.0f} "
                  f"{statistics.median(f for _, f in rps[label]):7.0f} {statistics.median(ratios):6.2f} "
                  f"{statistics.median(times[label]):7.1f} {pct(times[label], 95):7.1f}")
        # Up to 10 000 requests in all (capped in time on a loaded machine), for the workers' memory.
        deadline = time.monotonic() + args.rss_seconds
        while served < 10_000 and time.monotonic() < deadline:
            for _label, who, path, headers in targets:
                h = {**BROWSER, **headers}
                if who:
                    h["Cookie"] = clients[who].cookie_header()
                served += wrk(base + path, 2, h)[1]
        print(f"\ngunicorn workers after {served} requests: RSS "
              + ", ".join(f"{m:.0f} MB" for m in rss_mb(product)) + f"; load average {load()}")
        if not args.no_browser:
            for line in first_visit(base, w["tech_big"]):
                print(line)
    finally:
        for proc in (product, floor):
            proc.terminate()
        for proc in (product, floor):
            try:
                proc.wait(120)  # a loaded machine: gunicorn's graceful stop can be slow
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if not args.no_explain:
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) on {name}:")
        for plan in explain_plans(url, w, targets):
            print(plan)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--databases", default="bench_1m,bench_5m")
    ap.add_argument("--server", default=os.environ.get("BENCH_SERVER", "postgresql://postgres@127.0.0.1:5432"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds of wrk per page and round")
    ap.add_argument("--sequential", type=int, default=40, help="sequential requests per page and round (p95)")
    ap.add_argument("--rss-seconds", type=int, default=300, help="at most this long to reach 10 000 requests")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-explain", action="store_true")
    args = ap.parse_args()
    print(f"bench/run.py: {os.cpu_count()} CPUs, load average {load()}", flush=True)
    for name in args.databases.split(","):
        bench_database(name, args)


if __name__ == "__main__":
    main()
