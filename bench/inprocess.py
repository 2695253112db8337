#!/usr/bin/env python3
"""Per-request CPU time and queries of the list pages, in-process (no HTTP,
no other process), against the floor (bench/floor.py) on the same data: the
figures that stay readable on a busy machine, where wall times do not.

    .venv/bin/python bench/inprocess.py --database bench_1m [--requests 300] [--profile 'history, largest']

For each page of bench/run.py: the median thread CPU time and wall time of a
request through Flask's test client (WSGI, the whole app: hooks, session,
queries, Jinja, compression), the queries it sends (SQLAlchemy events), and
the ratio of the floor's CPU time to the page's. ``--profile LABEL`` prints a
CPU-time profile of that page (cProfile, ``--sort`` cumulative or tottime).
"""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import BROWSER, PASSWORD, discover, pages  # noqa: E402


def measure(client, path, headers, n):
    cpu, wall = [], []
    for _ in range(n):
        c0, w0 = time.thread_time(), time.perf_counter()
        resp = client.get(path, headers=headers)
        resp.get_data()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
        assert resp.status_code == 200, (resp.status_code, path)
    return statistics.median(cpu) * 1000, statistics.median(wall) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database", default="bench_1m")
    ap.add_argument("--server", default=os.environ.get("BENCH_SERVER", "postgresql://postgres@127.0.0.1:5432"))
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--profile", default="")
    ap.add_argument("--sort", default="cumulative")
    ap.add_argument("--queries", action="store_true", help="print the queries of each page")
    ap.add_argument("--only", default="", help="measure only the pages whose label holds one of these "
                                               "|-separated strings (e.g. 'history, typical|home')")
    args = ap.parse_args()
    url = f"{args.server}/{args.database}"
    os.environ.update(DATABASE_URL=url, EP_SECRET_KEY="bench-" + "x" * 40, EP_ALLOW_UNSCANNED="1",
                      EP_INSECURE_COOKIES="1")
    from sqlalchemy import event

    from ep_web import create_app
    from ep_web.extensions import db

    w = discover(url)
    app = create_app({"WTF_CSRF_ENABLED": False})
    os.environ["DATABASE_URL"] = url
    import floor

    fclient = floor.app.test_client()
    fcpu, fwall = measure(fclient, f"/?p={w['typ_p']}", {}, args.requests)
    print(f"floor: cpu {fcpu:.2f} ms, wall {fwall:.2f} ms per request")
    queries: list = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda conn, cur, statement, *a: queries.append(statement))
    clients = {}
    print(f"{'page':<44} {'cpu ms':>7} {'wall ms':>8} {'queries':>7} {'cpu ratio':>9}")
    only = [word.strip() for word in args.only.split("|") if word.strip()]
    for label, who, path, headers in pages(w):
        if only and not any(word in label for word in only):
            continue
        if who not in clients:
            clients[who] = app.test_client()
            if who:
                resp = clients[who].post("/connexion", data={"login": w[who], "password": PASSWORD})
                assert resp.status_code in (302, 303), resp.status_code
        client = clients[who]
        h = {**BROWSER, **headers}
        measure(client, path, h, 5)  # warm
        queries.clear()
        client.get(path, headers=h)
        n_queries = len(queries)
        shown = list(queries)
        cpu, wall = measure(client, path, h, args.requests)
        print(f"{label:<44} {cpu:7.2f} {wall:8.2f} {n_queries:7d} {fcpu / cpu:9.2f}", flush=True)
        if args.queries:
            for q in shown:
                print("     ", " ".join(q.split())[:300])
        if args.profile and args.profile in label:
            import cProfile
            import pstats

            prof = cProfile.Profile(time.thread_time)  # CPU time: the waits on the database do not count
            prof.enable()
            for _ in range(200):
                client.get(path, headers=h).get_data()
            prof.disable()
            pstats.Stats(prof).sort_stats(args.sort).print_stats(40)


if __name__ == "__main__":
    main()
