"""Benchmark of e-mail sending (a script, not a test): one real worker process
(``python -m workers.worker``) against a local SMTP server (aiosmtpd, in this
process), on PostgreSQL and Redis.

    createdb -h 127.0.0.1 -U postgres bench_mail
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_mail \\
    REDIS_URL=redis://127.0.0.1:6379/8 .venv/bin/python bench/mail.py [--emails 3000] [--users 20] [--seconds 60]

It recreates the schema of that database (DROP SCHEMA public CASCADE: give it
a database of its own) and uses queues of its own on that Redis (emptied at
the end). Two measures:

1. throughput: ``--emails`` pending e-mails are written at once, the mail
   queue is kicked, and the time until the SMTP server has them all gives the
   e-mails per second of one worker (target ≥ 50/s);
2. latency under load: ``--users`` threads, each a technicien creating demandes
   with an agent of the caisse taking each one (the take e-mails the author),
   for ``--seconds``; for each e-mail, the time from the commit that wrote it
   to its arrival at the SMTP server (target p95 ≤ 2 s), one worker.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from ep_web import create_app  # noqa: E402
from ep_web.extensions import db  # noqa: E402
from ep_web.mail import PENDING_KEY  # noqa: E402
from ep_web.models import EmailStatus, OutboxEmail  # noqa: E402

ID = re.compile(rb"Message-ID: <[^>]*\.ep(\d+)@", re.I)


def _serve(port, out):
    """The SMTP server, in a process of its own (the users' threads of this
    process would slow its answers down): arrival times go back over a queue."""
    class Handler:
        async def handle_DATA(self, server, session, envelope):
            m = ID.search(envelope.content)
            if m:
                out.put((int(m.group(1)), time.time()))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    while True:
        time.sleep(3600)


class Sink:
    def __init__(self, port):
        import multiprocessing

        self.arrived: dict[int, float] = {}
        self.queue = multiprocessing.Queue()
        self.process = multiprocessing.Process(target=_serve, args=(port, self.queue), daemon=True)
        self.process.start()
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self):
        while True:
            email_id, at = self.queue.get()
            self.arrived[email_id] = at

    def stop(self):
        self.process.terminate()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"délai dépassé : {what}")
        time.sleep(0.02)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emails", type=int, default=3000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not url.startswith("postgres") or not redis_url:
        raise SystemExit("DATABASE_URL (PostgreSQL, une base à part) et REDIS_URL sont nécessaires")

    smtp_port = free_port()
    sink = Sink(smtp_port)
    queue = f"bench-mail-{uuid.uuid4().hex[:6]}"
    # A bench, not production: the development secret key is fine.
    os.environ.setdefault("EP_ENV", "test")
    os.environ.update(EP_SMTP_HOST="127.0.0.1", EP_SMTP_PORT=str(smtp_port), EP_RQ_QUEUE=queue,
                      EP_MAIL_PRINT="0", EP_BASE_URL="http://ep.bench")
    app = create_app({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_port, "REDIS_URL": redis_url, "RQ_QUEUE": queue,
                      "RQ_MAIL_QUEUE": "", "MAIL_PRINT": False,
                      "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "pool_size": args.users + 5}})
    with app.app_context():
        db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.session.commit()
        from flask_migrate import upgrade

        upgrade()
        from ep_web.clock import Clock
        from tests.factories import Factory

        factory = Factory(Clock())
        caisse = factory.caisse()
        agents = [factory.agent(caisse) for _ in range(4)]
        users = []
        for _ in range(args.users):
            p = factory.partenaire(caisse, members=30)
            users.append(factory.technicien(p))
        ids = {"caisse": caisse.id, "agents": [a.id for a in agents], "users": [u.id for u in users]}
        # The year's reference counter row is created by the first demande;
        # created here, before the threads, so that the bench measures sending.
        from ep_web.domain.demandes import DemandeInput, create_demande
        from ep_web.transaction import commit

        create_demande(users[0], DemandeInput(
            service="contact", caisse_id=caisse.id, civilite="Mme", nom="Fictif", prenom="Camille",
            date_naissance=date(1980, 1, 1), departement="74",
            details={"subject": "Question", "message": "Merci de rappeler la structure."}))
        commit()

    log = open(ROOT / "instance" / "bench-mail-worker.log", "wb")
    worker = subprocess.Popen([sys.executable, "-m", "workers.worker"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "EP_WORKER_NAME": "bench-worker", "PYTHONPATH": str(ROOT)})
    try:
        with app.app_context():
            from ep_web.models import WorkerHeartbeat

            def ready():
                db.session.rollback()
                return db.session.scalar(select(func.count()).select_from(WorkerHeartbeat)) > 0

            wait(ready, 60, "le worker")

            # 1. throughput
            now = datetime.now(timezone.utc)
            body = "Bonjour,\n\nVotre demande EP-BENCH a une réponse : http://ep.bench/demandes/1\n" * 3
            db.session.execute(insert(OutboxEmail), [
                {"to": f"bench{n}@structure.example", "subject": "Votre demande", "body_text": body,
                 "body_html": f"<p>{body}</p>", "template": "bench", "status": EmailStatus.PENDING,
                 "attempts": 0, "last_error": "", "created_at": now} for n in range(args.emails)])
            db.session.commit()
            first = db.session.scalar(select(func.min(OutboxEmail.id)))
            start = time.time()
            from ep_web.jobs import kick_mail

            kick_mail()
            wait(lambda: len(sink.arrived) >= args.emails, 600, "l'envoi en masse")
            elapsed = max(sink.arrived.values()) - start
            rate = args.emails / elapsed
            print(f"Débit : {args.emails} e-mails en {elapsed:.1f} s = {rate:.0f} e-mails/s pour un worker "
                  f"(cible ≥ 50/s) {'OK' if rate >= 50 else 'ÉCHEC'}")
            assert min(sink.arrived) >= first

        # 2. latency with N users
        committed: dict[int, float] = {}
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds
        counts = {"demandes": 0, "errors": 0}

        def user(n):
            from ep_web.domain.demandes import DemandeInput, create_demande, take
            from ep_web.models import Account
            from ep_web.transaction import commit, rollback

            with app.app_context():
                me = db.session.get(Account, ids["users"][n])
                agent = db.session.get(Account, ids["agents"][n % len(ids["agents"])])
                k = 0
                while time.monotonic() < stop_at:
                    k += 1
                    try:
                        d = create_demande(me, DemandeInput(
                            service="contact", caisse_id=ids["caisse"], civilite="Mme", nom=f"Fictif{n}x{k}",
                            prenom="Camille", date_naissance=date(1980, 1, 1), departement="74",
                            details={"subject": "Question sur un dossier",
                                     "message": "Merci de rappeler la structure."}))
                        commit()
                        take(agent, d)
                        pending = list(db.session.info.get(PENDING_KEY, []))
                        commit()
                        t = time.time()
                        with lock:
                            for i in pending:
                                committed[i] = t
                            counts["demandes"] += 1
                    except Exception as exc:  # noqa: BLE001 - counted and shown
                        rollback()
                        counts["errors"] += 1
                        print("erreur", type(exc).__name__, exc, file=sys.stderr)
                    time.sleep(0.2)  # a person does not click continuously

        threads = [threading.Thread(target=user, args=(n,)) for n in range(args.users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait(lambda: all(i in sink.arrived for i in committed), 120, "les derniers e-mails")
        lat = [sink.arrived[i] - t for i, t in committed.items()]
        p50, p95 = pct(lat, 50), pct(lat, 95)
        print(f"Charge : {args.users} utilisateurs, {counts['demandes']} demandes prises en {args.seconds} s "
              f"({counts['demandes'] / args.seconds:.1f}/s), {len(lat)} e-mails, {counts['errors']} erreurs")
        print(f"Commit → SMTP : p50 {p50:.3f} s, p95 {p95:.3f} s, max {max(lat):.3f} s, "
              f"moyenne {statistics.mean(lat):.3f} s (cible p95 ≤ 2 s) {'OK' if p95 <= 2 else 'ÉCHEC'}")
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        sink.stop()
        with app.app_context():
            from ep_web.jobs import get_queue, kick_key, mail_queue_name, redis_connection

            for name in (queue, mail_queue_name()):
                get_queue(name).delete(delete_jobs=True)
            redis_connection().delete(kick_key())


if __name__ == "__main__":
    main()
