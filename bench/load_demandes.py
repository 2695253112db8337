#!/usr/bin/env python3
"""Load PostgreSQL with a realistic national volume for the benchmarks:
101 caisses, 20 000 structures, their conventions, techniciens and agents, and
N demandes (default 1 000 000) spread over 3 years, with the lifecycle and the
outcomes a real caisse produces (SPEC §4), skewed so that some structures and
caisses are large.

    createdb -h 127.0.0.1 -U postgres bench_5m
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_5m \\
        .venv/bin/python bench/load_demandes.py --demandes 5000000 [--structures 20000] [--years 3]

The schema is created with the app's migrations (the database is emptied
first); the data goes in with COPY, the demande table's secondary indexes are
dropped before and rebuilt after (what a bulk load does), then VACUUM ANALYZE.
5 M demandes load in a few minutes on a 2-core machine. All data is fictitious.

What the demandes look like (the statistics benchmarks read it):
- ids grow with created_at, dates uniform over the last ``--years`` years with a
  weekday rhythm (fewer on weekends);
- services: contact 25 %, étude de dossier 20 %, signalement 20 %, rendez-vous
  15 %, document 15 %, suivi AME 5 %; 10 % of signalements urgent;
- status by age: nearly everything older than two months is closed, a few stay
  stuck open; recent weeks hold the open queue (transmise, prise en charge,
  en attente de complément);
- signalements: ``due_at`` = created + 48 h; ``taken_at`` (the caisse's
  contact) within 48 h for about 82 % of them, later for the rest (or not yet,
  when still transmise); ``alert_sent_at`` set when the 12 h warning went out;
- closed signalements carry the follow-up outcomes (SPEC §4, §7): transmis à la
  Mission accompagnement santé, parcours créé, parcours clôturé avec soins
  réalisés, examen de prévention réalisé, orienté service social, traitée,
  sans suite; other services: traitée, orientée service social, sans suite;
- documents for a structure not habilitée are sent by post when closed.
"""
import argparse
import os
import random
import sys
import time
from datetime import date, datetime, timedelta, timezone

import psycopg

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PASSWORD = "Bench-Partenaires-2026!"
SERVICES = ["contact"] * 5 + ["etude_dossier"] * 4 + ["signalement"] * 4 + ["rendez_vous"] * 3 + \
    ["document"] * 3 + ["suivi_ame"]
SIGNALEMENT_OUTCOMES = (["transmis_mission_accompagnement"] * 30 + ["parcours_cree"] * 15 +
                        ["parcours_cloture_soins"] * 15 + ["examen_prevention"] * 8 +
                        ["orientee_service_social"] * 12 + ["traitee"] * 15 + ["sans_suite"] * 5)
GENERAL_OUTCOMES = ["traitee"] * 80 + ["orientee_service_social"] * 12 + ["sans_suite"] * 8
URGENCY_REASONS = ["soins_imminents", "droits_bloques"]
# Surnames: the 20 commonest French ones (far too common for a name search)
# plus about 9 000 made-up ones from syllables, drawn with a long tail, so that
# a name search is as selective as on real data.
_COMMON = ["Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent",
           "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard"]
_SYL = ["ba", "ber", "bou", "ca", "char", "cou", "da", "del", "du", "fa", "fon", "ga", "gil", "gou", "la", "lan",
        "le", "lou", "ma", "mar", "mon", "na", "nou", "pa", "per", "pou", "ra", "ren", "rou", "sa", "ser", "ta",
        "ter", "tou", "va", "ver", "vi"]
_rnd = random.Random(7)
NOMS = _COMMON * 15 + sorted({(_rnd.choice(_SYL) + _rnd.choice(_SYL) + _rnd.choice(_SYL)).capitalize()
                            for _ in range(9000)})
PRENOMS = ["Léa", "Hugo", "Emma", "Louis", "Chloé", "Jules", "Inès", "Adam", "Lina", "Noah", "Manon", "Paul"]
_PLAIN = str.maketrans("éèêëàâîïôöùûüç", "eeeeaaiioouuuc")
SERVICES_JSON = '["contact", "etude_dossier", "suivi_ame", "signalement", "rendez_vous", "document"]'


def copy(conn, table, columns, rows):
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)


def demande_lines(args, now, structures_of, main_caisse, second, agents_of, habilite):
    """Tab-separated COPY lines, oldest first (ids grow with time). Times are
    whole seconds since the epoch, formatted through lookup tables: this loop
    runs 5 million times."""
    rnd = random.Random(11)
    random_, randrange, choice, uniform = rnd.random, rnd.randrange, rnd.choice, rnd.uniform
    n = args.demandes
    end = int(now.timestamp())
    span = 365 * args.years * 86400
    start = end - span
    step = span / n
    day0 = start // 86400 - 3  # a weekend at the start moves back to Friday
    days = [(date(1970, 1, 1) + timedelta(days=d)).isoformat() + " " for d in range(day0, end // 86400 + 4)]
    hms = [f"{h:02d}:{m:02d}:{sec:02d}+00" for h in range(24) for m in range(60) for sec in range(60)]

    def ts(t):
        if t is None:
            return "\\N"
        d, r = divmod(t, 86400)
        return days[d - day0] + hms[r]

    hour, day = 3600, 86400
    plain = {nom: nom.lower() for nom in NOMS}
    prenoms = [(p, p.lower().translate(_PLAIN)) for p in PRENOMS]
    births = [f"{1940 + k % 70}-{1 + k % 12:02d}-{1 + k % 28:02d}" for k in range(70 * 12 * 28)]
    for i in range(1, n + 1):
        created = int(start + i * step - random_() * step)
        weekday = (created // day + 3) % 7  # 1970-01-01 was a Thursday
        if weekday >= 5 and random_() < 0.7:  # weekends are quiet: most move to Friday
            created -= (weekday - 4) * day
        age = (end - created) / day
        p = structures_of[i - 1]
        c = second[p] if i % 4 == 0 and p in second else main_caisse[p]
        service = SERVICES[randrange(20)]
        signalement = service == "signalement"
        urgent = signalement and random_() < 0.1
        due = created + 48 * hour if signalement else None
        # Status by age: the open queue is recent; a few old ones stay stuck.
        r = random_()
        if age > 60:
            status = "cloturee" if r < 0.985 else ("prise_en_charge" if r < 0.995 else "attente_complement")
        elif age > 7:
            status = "cloturee" if r < 0.75 else ("prise_en_charge" if r < 0.88 else
                                                  "attente_complement" if r < 0.95 else "transmise")
        else:
            status = "cloturee" if r < 0.25 else ("transmise" if r < 0.65 else
                                                  "prise_en_charge" if r < 0.9 else "attente_complement")
        taken = assigned = closed = outcome = by_post = alert = None
        if status != "transmise":
            if signalement:  # contacted within 48 h for about 82 % of them
                delay = uniform(1, 47) if random_() < 0.82 else uniform(48, 160)
            else:
                delay = uniform(2, 240)
            taken = created + int(delay * hour)
            if taken >= end:  # not answered yet: no moment in the future, none piled up on the load's instant
                status, taken = "transmise", None
            else:
                assigned = choice(agents_of[c])
        if status == "cloturee":
            closed = taken + int(uniform(0.5, 480) * hour)
            if closed >= end:  # still being processed
                status, closed = "prise_en_charge", None
            else:
                outcome = choice(SIGNALEMENT_OUTCOMES if signalement else GENERAL_OUTCOMES)
                if service == "document" and not habilite[p]:
                    by_post = closed
        if signalement and due - 12 * hour < end and (taken is None or taken > due - 12 * hour):
            alert = due - 12 * hour
        nom = NOMS[randrange(len(NOMS))]
        prenom, prenom_plain = prenoms[randrange(12)]
        yield "\t".join((
            f"EP-B-{i:09d}", service, str(c), str(p), str((p - 1) * 2 + 1 + (i & 1)), status,
            outcome or "\\N", "Mme" if i & 1 else "M.", nom, prenom, births[i % 23520], f"{(c % 95) + 1:02d}",
            f"{plain[nom]} {prenom_plain}", "{}", "Message de test.",
            "f", "t" if signalement else "f", "t" if urgent else "f",
            choice(URGENCY_REASONS) if urgent else "", "f", ts(created), ts(closed or taken or created), ts(due),
            ts(alert), "\\N" if assigned is None else str(assigned), ts(taken), ts(closed), ts(by_post))) + "\n"


def rebuild_indexes(url, indexes, t0) -> None:
    """The secondary indexes, two at a time (one connection each), the largest first."""
    import threading

    todo = sorted(indexes, key=lambda ix: ("gin" not in ix[1].lower(), ix[0]))
    lock = threading.Lock()

    def worker():
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '384MB'")
            while True:
                with lock:
                    if not todo:
                        return
                    name, ddl = todo.pop(0)
                t1 = time.perf_counter()
                conn.execute(ddl)
                print(f"  index {name}: {time.perf_counter() - t1:.1f} s (at {time.perf_counter() - t0:.0f} s)",
                      flush=True)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


DEMANDE_COLUMNS = ["reference", "service", "caisse_id", "partenaire_id", "author_id", "status", "outcome",
                   "civilite", "nom", "prenom", "date_naissance", "departement", "nom_search", "details",
                   "message", "health_confirmed", "consent", "urgent", "urgency_reason", "duplicate_confirmed",
                   "created_at", "updated_at", "due_at", "alert_sent_at", "assigned_to_id", "taken_at",
                   "closed_at", "sent_by_post_at"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demandes", type=int, default=1_000_000)
    ap.add_argument("--structures", type=int, default=20_000)
    ap.add_argument("--caisses", type=int, default=101)
    ap.add_argument("--years", type=int, default=3, help="the demandes' dates are spread over this many years")
    args = ap.parse_args()
    url = os.environ["DATABASE_URL"]
    # The app is built only to run the migrations: no secret nor antivirus to configure for that.
    os.environ.setdefault("EP_SECRET_KEY", "bench-only-" + "x" * 40)
    os.environ.setdefault("EP_ALLOW_UNSCANNED", "1")
    random.seed(42)
    t0 = time.perf_counter()

    from flask_migrate import upgrade
    from sqlalchemy import text

    from ep_web import create_app
    from ep_web.domain.passwords import hash_password
    from ep_web.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1),
                      "TESTING": True})  # a bench: the development secret key is fine
    with app.app_context():
        db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.session.commit()
        upgrade()
        pw = hash_password(PASSWORD)
        db.engine.dispose()

    now = datetime.now(timezone.utc).replace(microsecond=0)
    today = now.date()
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO cgu_version (version, body, published_at) VALUES (1, 'CGU de test', now())")
        copy(conn, "caisse", ["id", "name", "code", "departements", "address", "referent_email", "autre_canal",
                              "idle_inactivation_enabled", "created_at"],
             ((i, f"CPAM Bench {i}", f"B{i:03d}", f"{(i % 95) + 1:02d}", "", f"ref{i}@caisse.example",
               "01 00 00 00 00", True, now) for i in range(1, args.caisses + 1)))
        habilite = {i: i % 7 == 0 for i in range(1, args.structures + 1)}
        copy(conn, "partenaire", ["id", "name", "type", "members", "habilite_documents", "email_domains", "address",
                                  "referent_name", "referent_email", "dpo_name", "dpo_email", "suspended_reason",
                                  "lock_version", "created_at"],
             ((i, f"Structure {i}", "ccas", 12, habilite[i], f"s{i}.example", "", "", "", "", "", "", 0, now)
              for i in range(1, args.structures + 1)))
        # Each structure: one main caisse (skewed towards the first caisses), 1 in 5 a second one.
        weights = [1 / (k ** 0.8) for k in range(1, args.caisses + 1)]
        main_caisse = {p: random.choices(range(1, args.caisses + 1), weights)[0] for p in range(1, args.structures + 1)}
        convs = []
        for p, c in main_caisse.items():
            convs.append((p, c))
            if p % 5 == 0:
                convs.append((p, (c % args.caisses) + 1))
        signed = today - timedelta(days=200)
        copy(conn, "convention", ["partenaire_id", "caisse_id", "signed_on", "ends_on", "tacit_renewal", "state",
                                  "services", "end_reason", "created_at"],
             ((p, c, signed, signed + timedelta(days=365), True, "active", SERVICES_JSON, "", now)
              for p, c in convs))
        # Accounts: 2 techniciens per structure, 3 agents per caisse.
        accounts = []
        aid = 0
        for p in range(1, args.structures + 1):
            for k in range(2):
                aid += 1
                accounts.append((aid, f"T{p:06d}{k}", "technicien", "active", "Mme", f"Tech{k}", f"Struct{p}",
                                 f"t{k}@s{p}.example", p, None, pw, now, 1, now, now, "", "", ""))
        agents_of = {}
        for c in range(1, args.caisses + 1):
            agents_of[c] = []
            for k in range(3):
                aid += 1
                agents_of[c].append(aid)
                accounts.append((aid, f"A{c:04d}{k}", "agent", "active", "M.", f"Agent{k}", f"Caisse{c}",
                                 f"a{k}@c{c}.example", None, c, pw, now, 1, now, now, "", "", ""))
        copy(conn, "account", ["id", "login", "profile", "status", "civilite", "prenom", "nom", "email",
                               "partenaire_id", "caisse_id", "password_hash", "password_changed_at",
                               "cgu_version", "created_at", "last_login_at", "fonction", "telephone",
                               "inactivation_reason"], accounts)
        for table in ("caisse", "partenaire", "account"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        print(f"reference data: {time.perf_counter() - t0:.1f} s", flush=True)

        # Bulk load: secondary indexes (not the constraints) are rebuilt after the COPY,
        # and the foreign keys are not checked row by row (the generator keeps them).
        indexes = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'demande' AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)").fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute("SET session_replication_role = replica")

        # Structure sizes follow a long tail (a few with tens of thousands of demandes).
        pweights = [1 / (k ** 0.9) for k in range(1, args.structures + 1)]
        random.shuffle(pweights)
        structures_of = random.choices(range(1, args.structures + 1), pweights, k=args.demandes)
        second = {p: c for p, c in convs if c != main_caisse[p]}
        lines = demande_lines(args, now, structures_of, main_caisse, second, agents_of, habilite)
        with conn.cursor() as cur, cur.copy(f"COPY demande ({', '.join(DEMANDE_COLUMNS)}) FROM STDIN") as cp:
            batch = []
            for k, line in enumerate(lines, start=1):
                batch.append(line)
                if len(batch) == 20_000:
                    cp.write("".join(batch).encode())
                    batch = []
                if k % 1_000_000 == 0:
                    print(f"  {k} demandes: {time.perf_counter() - t0:.1f} s", flush=True)
            cp.write("".join(batch).encode())
        conn.execute("SET session_replication_role = DEFAULT")
        conn.commit()
        print(f"demandes copied: {time.perf_counter() - t0:.1f} s", flush=True)
        rebuild_indexes(url, indexes, t0)
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")  # what autovacuum does on a live database
        conn.autocommit = False
        big = conn.execute("SELECT partenaire_id, count(*) FROM demande GROUP BY 1 ORDER BY 2 DESC LIMIT 1").fetchone()
        bigc = conn.execute("SELECT caisse_id, count(*) FROM demande WHERE status <> 'cloturee' GROUP BY 1 "
                            "ORDER BY 2 DESC LIMIT 1").fetchone()
    print(f"loaded {args.demandes} demandes in {time.perf_counter() - t0:.1f} s; largest structure {big[0]} "
          f"({big[1]} demandes), largest open queue caisse {bigc[0]} ({bigc[1]} open)", flush=True)


if __name__ == "__main__":
    main()
