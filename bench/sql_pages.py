#!/usr/bin/env python3
"""The SQL cost of each list page, readable on a busy machine: the demande
queries a page really sends (captured in-process, as bench/run.py does for its
EXPLAIN), each run ``--repeat`` times under EXPLAIN (ANALYZE, BUFFERS); per
page, the sum of the best planning + execution times and the shared buffers
its plans touch (the same from one run to the next, whatever the load).

    .venv/bin/python bench/sql_pages.py --database bench_5m [--repeat 7] [--plans] [LABEL ...]

LABEL: only the pages of bench/run.py whose label holds one of them
("queue, largest, name"). ``--plans`` prints each plan (the last run).
Run it on the 1 M and the 5 M database: a page whose figures grow with the
data reads something that grows with it.
"""
import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import bench_app, discover, explain, page_statements, pages  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database", default="bench_1m")
    ap.add_argument("--server", default=os.environ.get("BENCH_SERVER", "postgresql://postgres@127.0.0.1:5432"))
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--plans", action="store_true")
    ap.add_argument("labels", nargs="*")
    args = ap.parse_args()
    url = f"{args.server}/{args.database}"
    os.environ.update(DATABASE_URL=url, EP_SECRET_KEY="bench-" + "x" * 40, EP_ALLOW_UNSCANNED="1",
                      EP_INSECURE_COOKIES="1")
    w = discover(url)
    app = bench_app(url)
    from ep_web.extensions import db

    targets = [t for t in pages(w) if t[1] and (not args.labels or any(x in t[0] for x in args.labels))]
    print(f"{args.database}: {w['total']} demandes; load average {os.getloadavg()[0]:.2f}")
    print(f"{'page':<44} {'queries':>7} {'sql ms':>7} {'buffers':>8}")
    with app.app_context():
        for label, path, statements in page_statements(app, w, targets):
            total, buffers, plans = 0.0, 0, []
            for statement, params in statements:
                best = None
                for _ in range(args.repeat):
                    plan = explain(statement, params)
                    ms = sum(float(x) for x in re.findall(r"(?:Planning|Execution) Time: ([\d.]+)", plan))
                    best = ms if best is None else min(best, ms)
                top = re.search(r"Buffers: shared hit=(\d+)(?: read=(\d+))?", plan)
                buffers += int(top.group(1)) + int(top.group(2) or 0) if top else 0
                total += best
                plans.append(f"--- {label}: {path}\n{' '.join(statement.split())[:300]}\n{plan}")
            print(f"{label:<44} {len(statements):7d} {total:7.2f} {buffers:8d}", flush=True)
            if args.plans:
                print("\n".join(plans))
        db.engine.dispose()


if __name__ == "__main__":
    main()
