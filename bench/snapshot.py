#!/usr/bin/env python3
"""The HTML of every page of bench/run.py, as each of its profiles sees it,
written to a folder (CSRF tokens, nonces and the idle countdown masked; the
clock frozen), so that a change meant to be invisible can be checked byte for
byte:

    .venv/bin/python bench/snapshot.py --database bench12_1m --at 2026-12-03T03:00 /tmp/before
    (change the code)
    .venv/bin/python bench/snapshot.py --database bench12_1m --at 2026-12-03T03:00 \
        --world /tmp/before/world.json /tmp/after
    diff -r /tmp/before /tmp/after

Each page is asked as a browser asks it and as htmx does (the fragment), plus
a few pages of each list (pagination links, past the end). Logs in the way
bench/inprocess.py does (nothing else is written).
"""
import argparse
import os
import re
import sys
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import PASSWORD, discover, pages  # noqa: E402

MASKS = [
    (re.compile(r'(name="csrf_token"[^>]*value=")[^"]+'), r"\1…"),
    (re.compile(r'("X-CSRFToken": ")[^"]+'), r"\1…"),
    (re.compile(r'(nonce=")[^"]+'), r"\1…"),
    (re.compile(r'(data-idle-left=")[^"]+'), r"\1…"),
]


def extra_pages(w) -> list[tuple[str, str, str, dict]]:
    htmx = {"HX-Request": "true"}
    return [
        ("history, page 3", "tech_big", "/demandes?page=3", {}),
        ("history, page 3 fragment", "tech_big", "/demandes?page=3&service=contact", htmx),
        ("history, past the end", "tech_typ", "/demandes?page=999&status=cloturee", {}),
        ("history, typical fragment", "tech_typ", "/demandes?q=mar", htmx),
        ("history, dates", "tech_big", "/demandes?date_from=01/01/2026&date_to=30/06/2026", {}),
        ("history, nothing", "tech_big", "/demandes?q=zzzzqqq", {}),
        ("queue, page 2", "agent", "/traitement?page=2", {}),
        ("queue, page 2 fragment", "agent", "/traitement?page=2&urgent=y", htmx),
        ("queue, closed", "agent", "/traitement?statut=cloturee", {}),
        ("queue, past the end", "agent", "/traitement?statut=transmise&page=999", {}),
        ("queue, mine", "agent", "/traitement?mine=y", {}),
        ("queue, nothing", "agent", "/traitement?q=zzzzqqq", {}),
        ("queue, fragment name", "agent", "/traitement?q=dub", htmx),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database", default="bench12_1m")
    ap.add_argument("--server", default=os.environ.get("BENCH_SERVER", "postgresql://postgres@127.0.0.1:5432"))
    ap.add_argument("--at", required=True, help="the frozen clock, ISO (UTC)")
    ap.add_argument("--world", help="the accounts and ids of an earlier snapshot (its world.json): the "
                                    "median structure is a tie among many")
    ap.add_argument("out")
    args = ap.parse_args()
    url = f"{args.server}/{args.database}"
    os.environ.update(DATABASE_URL=url, EP_SECRET_KEY="bench-" + "x" * 40, EP_ALLOW_UNSCANNED="1",
                      EP_INSECURE_COOKIES="1")
    import json

    from ep_web import create_app
    from ep_web.clock import FrozenClock

    if args.world:
        with open(args.world) as f:
            w = json.load(f)
    else:
        w = discover(url)
    app = create_app({"WTF_CSRF_ENABLED": False})
    app.extensions["ep_clock"] = FrozenClock(datetime.fromisoformat(args.at).replace(tzinfo=timezone.utc))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "world.json"), "w") as f:
        json.dump(w, f)
    clients = {}
    for label, who, path, headers in pages(w) + extra_pages(w):
        if who not in clients:
            clients[who] = app.test_client()
            if who:
                resp = clients[who].post("/connexion", data={"login": w[who], "password": PASSWORD})
                assert resp.status_code in (302, 303), resp.status_code
        for kind, h in (("page", headers), ("htmx", {"HX-Request": "true"})):
            resp = clients[who].get(path, headers=h)
            html = resp.get_data(as_text=True)
            for pattern, repl in MASKS:
                html = pattern.sub(repl, html)
            name = re.sub(r"[^a-z0-9]+", "_", f"{label} {kind}".lower()).strip("_")
            with open(os.path.join(args.out, name + ".html"), "w") as f:
                f.write(f"{resp.status_code} {path} {h}\n{html}")
    print(f"{len(os.listdir(args.out))} pages written to {args.out}")


if __name__ == "__main__":
    main()
