#!/usr/bin/env python3
"""Load PostgreSQL with a realistic volume for the page benchmark (issue 3):
101 caisses, 20 000 structures, their conventions and techniciens, and
1 000 000 demandes, skewed so that some structures and caisses are large.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_pages \\
        .venv/bin/python bench/load_demandes.py [--demandes 1000000] [--structures 20000]

The schema is created with the app's migrations; the data goes in with COPY.
All data is fictitious.
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
SERVICES = ["contact", "etude_dossier", "suivi_ame", "signalement", "rendez_vous", "document"]
STATUSES = ["cloturee"] * 16 + ["prise_en_charge"] * 2 + ["transmise", "attente_complement"]
# Surnames: the 20 commonest French ones (about 4 % of people each way too
# common for a name search) plus 6 000 made-up ones from syllables, drawn with
# a long tail, so that a name search is as selective as on real data.
_COMMON = ["Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent",
           "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard"]
_SYL = ["ba", "ber", "bou", "ca", "char", "cou", "da", "del", "du", "fa", "fon", "ga", "gil", "gou", "la", "lan",
        "le", "lou", "ma", "mar", "mon", "na", "nou", "pa", "per", "pou", "ra", "ren", "rou", "sa", "ser", "ta",
        "ter", "tou", "va", "ver", "vi"]
_rnd = random.Random(7)
NOMS = _COMMON * 15 + sorted({(_rnd.choice(_SYL) + _rnd.choice(_SYL) + _rnd.choice(_SYL)).capitalize()
                            for _ in range(9000)})
PRENOMS = ["Léa", "Hugo", "Emma", "Louis", "Chloé", "Jules", "Inès", "Adam", "Lina", "Noah", "Manon", "Paul"]


def copy(conn, table, columns, rows):
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--demandes", type=int, default=1_000_000)
    ap.add_argument("--structures", type=int, default=20_000)
    ap.add_argument("--caisses", type=int, default=101)
    args = ap.parse_args()
    url = os.environ["DATABASE_URL"]
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

    now = datetime.now(timezone.utc)
    today = now.date()
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO cgu_version (version, body, published_at) VALUES (1, 'CGU de test', now())")
        copy(conn, "caisse", ["id", "name", "code", "departements", "address", "referent_email", "autre_canal",
                              "idle_inactivation_enabled", "created_at"],
             ((i, f"CPAM Bench {i}", f"B{i:03d}", f"{(i % 95) + 1:02d}", "", f"ref{i}@caisse.example",
               "01 00 00 00 00", True, now) for i in range(1, args.caisses + 1)))
        copy(conn, "partenaire", ["id", "name", "type", "members", "habilite_documents", "email_domains", "address",
                                  "referent_name", "referent_email", "dpo_name", "dpo_email", "suspended_reason",
                                  "lock_version", "created_at"],
             ((i, f"Structure {i}", "ccas", 12, i % 7 == 0, f"s{i}.example", "", "", "", "", "", "", 0, now)
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
             ((p, c, signed, signed + timedelta(days=365), True, "active", '["contact", "etude_dossier", '
               '"suivi_ame", "signalement", "rendez_vous", "document"]', "", now) for p, c in convs))
        # Accounts: 2 techniciens per structure, 3 agents per caisse.
        accounts = []
        aid = 0
        for p in range(1, args.structures + 1):
            for k in range(2):
                aid += 1
                accounts.append((aid, f"T{p:06d}{k}", "technicien", "active", "Mme", f"Tech{k}", f"Struct{p}",
                                 f"t{k}@s{p}.example", p, None, pw, now, 1, now, now, "", "", ""))
        for c in range(1, args.caisses + 1):
            for k in range(3):
                aid += 1
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

        # Demandes: structure sizes follow a long tail (a few with thousands).
        pweights = [1 / (k ** 0.9) for k in range(1, args.structures + 1)]
        random.shuffle(pweights)
        structures = random.choices(range(1, args.structures + 1), pweights, k=args.demandes)
        second = {p: c for p, c in convs if c != main_caisse[p]}

        def rows():
            for i, p in enumerate(structures, start=1):
                c = second[p] if p in second and i % 4 == 0 else main_caisse[p]
                service = SERVICES[i % 6]
                status = STATUSES[i % len(STATUSES)]
                created = now - timedelta(minutes=(i * 1.05) % (730 * 24 * 60))
                nom, prenom = NOMS[(i * 7919) % len(NOMS)], PRENOMS[(i // 7) % len(PRENOMS)]
                closed = created + timedelta(days=3) if status == "cloturee" else None
                due = created + timedelta(hours=48) if service == "signalement" else None
                yield (f"EP-B-{i:09d}", service, c, p, (p - 1) * 2 + 1 + (i % 2), status,
                       "traitee" if closed else None, "Mme", nom, prenom, date(1950 + i % 60, 1 + i % 12, 1 + i % 28),
                       f"{(c % 95) + 1:02d}", f"{nom.lower()} {prenom.lower().replace('é', 'e').replace('è', 'e')}",
                       "{}", "Message de test.", False, service == "signalement",
                       service == "signalement" and i % 10 == 0,
                       "", False, created, created, due, closed)

        copy(conn, "demande", ["reference", "service", "caisse_id", "partenaire_id", "author_id", "status", "outcome",
                               "civilite", "nom", "prenom", "date_naissance", "departement", "nom_search", "details",
                               "message", "health_confirmed", "consent", "urgent", "urgency_reason",
                               "duplicate_confirmed", "created_at", "updated_at", "due_at", "closed_at"], rows())
        conn.commit()
        conn.commit()
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
