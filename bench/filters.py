#!/usr/bin/env python3
"""Every filter of the history and the queue, alone and combined, and name
searches as people type them, on the 1 M and the 5 M databases: the server
time of each page in-process (Flask's test client, the whole app, no HTTP),
its p50 and p95 at 5 M and its growth from 1 M (issue 12: any filter, any
name search, p95 ≤ 25 ms at 5 M and ≤ +20 % from 1 M).

    .venv/bin/python bench/filters.py --databases bench_1m,bench_5m [--requests 15] [--only traitement]

bench/run.py times a dozen pages over HTTP; this one covers the rest of what
a browser can ask (each service, each status, each cockpit tab, dates, pages
far away, 1- and 2-letter searches, words with spaces, accents, apostrophes,
digits). The largest structure's technicien and the largest caisse's agent,
as bench/run.py chooses them. In-process times are readable on a busy
machine only roughly: compare the two columns of one run, and read the
plans of a flagged page with bench/sql_pages.py-style EXPLAIN.
"""
import argparse
import os
import statistics
import sys
import time
from urllib.parse import quote

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import PASSWORD, bench_app, discover  # noqa: E402

SERVICES = ["contact", "etude_dossier", "suivi_ame", "signalement", "rendez_vous", "document"]
STATUSES = ["transmise", "prise_en_charge", "attente_complement", "cloturee"]
TABS = ["urgentes", "moins-12h", "en-retard", "non-prises", "attente-partenaire", "reponse-partenaire",
        "mes-demandes"]
# As typed: first letters, a common and a rare name, words with spaces, accents,
# an apostrophe, a hyphen, digits, nothing found.
SEARCHES = ["a", "du", "mar", "martin", "MARTIN", "dub", "vizo", "de la", "le b", "o b", "jean d", "é", "l'",
            "jean-", "12", "zzzz"]


def history_urls() -> list[str]:
    urls = ["", "?page=2", "?page=50", "?page=99999", "?date_from=01/01/2025",
            "?date_from=01/06/2026&date_to=30/06/2026", "?date_to=01/01/2024"]
    urls += [f"?service={s}" for s in SERVICES] + [f"?status={s}" for s in STATUSES]
    urls += [f"?q={quote(q)}" for q in SEARCHES]
    urls += ["?status=transmise&q=ma", "?status=prise_en_charge&q=a", "?service=rendez_vous&status=cloturee&q=dupont",
             "?service=document&status=cloturee&q=mar", "?service=suivi_ame&q=dub",
             "?status=attente_complement&date_from=01/01/2024", "?q=e&page=3", "?q=martin&page=10"]
    return ["/demandes" + u for u in urls]


def queue_urls() -> list[str]:
    urls = ["", "?page=50", "?page=9999", "?urgent=y", "?mine=y", "?du=01/01/2025",
            "?statut=cloturee&du=01/06/2026&au=30/06/2026", "?statut=cloturee&page=200"]
    urls += [f"?service={s}" for s in SERVICES] + [f"?statut={s}" for s in STATUSES]
    urls += [f"?onglet={t}" for t in TABS]
    urls += [f"?q={quote(q)}" for q in SEARCHES]
    urls += ["?statut=cloturee&q=a", "?statut=cloturee&q=mar", "?statut=cloturee&q=zzzz",
             "?statut=cloturee&service=signalement&q=mar", "?service=suivi_ame&q=mar", "?onglet=en-retard&q=ma",
             "?service=document&statut=cloturee"]
    return ["/traitement" + u for u in urls]


def timings(sides, urls, requests: int) -> dict[str, dict[str, list[float]]]:
    """{database: {url: times}}: each request of a page alternates between the
    databases (``sides``: name -> (app, discovered)), so that a change of the
    machine's load weighs on both columns alike."""
    clients: dict = {}
    out = {name: {} for name in sides}
    for url in urls:
        who = "tech_big" if url.startswith("/demandes") else "agent"
        for i in range(requests + 1):  # the first round is a warm-up
            for name, (app, w) in sides.items():
                with app.app_context():
                    if (name, who) not in clients:
                        clients[name, who] = app.test_client()
                        resp = clients[name, who].post("/connexion", data={"login": w[who], "password": PASSWORD})
                        assert resp.status_code in (302, 303), resp.status_code
                    t0 = time.perf_counter()
                    resp = clients[name, who].get(url)
                    resp.get_data()
                    elapsed = (time.perf_counter() - t0) * 1000
                if resp.status_code != 200:
                    raise SystemExit(f"{name} {url}: HTTP {resp.status_code}")
                if i:
                    out[name].setdefault(url, []).append(elapsed)
    return out


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--databases", default="bench_1m,bench_5m", help="the small, then the large database")
    ap.add_argument("--server", default=os.environ.get("BENCH_SERVER", "postgresql://postgres@127.0.0.1:5432"))
    ap.add_argument("--requests", type=int, default=15, help="timed requests per page and database")
    ap.add_argument("--only", default="", help="only the URLs holding this text")
    args = ap.parse_args()
    small, large = args.databases.split(",")
    urls = [u for u in history_urls() + queue_urls() if args.only in u]
    os.environ.update(EP_SECRET_KEY="bench-" + "x" * 40, EP_ALLOW_UNSCANNED="1", EP_INSECURE_COOKIES="1")
    sides = {}
    for name in (small, large):
        url = f"{args.server}/{name}"
        os.environ["DATABASE_URL"] = url
        sides[name] = (bench_app(url), discover(url))
        print(f"{name}: {sides[name][1]['total']} demandes", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    results = timings(sides, urls, args.requests)
    print(f"\n{'page':<58} {'p50 1M':>7} {'p95 1M':>7} {'p50 5M':>7} {'p95 5M':>7} {'growth':>7}")
    over = 0
    for url in urls:
        a, b = results[small][url], results[large][url]
        growth = p95(b) / p95(a) - 1
        flag = ""
        if p95(b) > 25:
            flag += " > 25 ms"
        if growth > 0.2:
            flag += " > +20 %"
        over += bool(flag)
        print(f"{url:<58} {statistics.median(a):7.1f} {p95(a):7.1f} {statistics.median(b):7.1f} {p95(b):7.1f} "
              f"{growth:+7.0%}{flag}")
    print(f"\n{len(urls)} pages, {over} flagged; load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
