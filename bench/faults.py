"""Fault campaign (README "Production"): the production layout on spare ports,
under a bounded load, through the faults a deployment meets; prints, per
scenario, what users saw and what became of their demandes and e-mails.

Started here, each its own: a PostgreSQL cluster (initdb/pg_ctl), Redis, an
SMTP server (aiosmtpd) that counts deliveries by outbox id, gunicorn
(``deploy/gunicorn.conf.py``, 2 workers), 2 RQ workers and the scheduler
(``python -m workers.worker`` / ``workers.scheduler``). A supervisor thread
plays systemd's ``Restart=always`` (``RestartSec=2``): it restarts a process
that died, and counts it. Nobody restarts anything by hand.

Load: a few techniciens create demandes through the web pages; an agent takes
each acknowledged demande, which e-mails its author (reference and link).

Scenarios, one after the other, the load running throughout:

1. baseline;
2. Redis killed (SIGKILL) for --redis-down seconds, then started again empty;
3. SMTP server stopped for --smtp-down seconds;
4. both RQ workers SIGKILLed (with their work horses, as systemd's
   control-group kill does);
5. both workers SIGKILLed *while a message is in the SMTP dialogue* (the
   server holds its answer): the e-mails of the chunk in flight become
   "envoi interrompu" after the claim timeout; the admin_national checks each
   against the SMTP server's log and presses "Renvoyer" (the real route) for
   those that never arrived;
6. PostgreSQL restarted (immediate stop, --pg-down seconds, start).

Per scenario: requests, 5xx (503 = the intended "service indisponible" page),
connection errors, demandes acknowledged (303) vs stored, e-mails expected
(outbox rows written) / delivered / duplicated / failed, processes restarted
by the supervisor, and the recovery time: from the end of the fault until
/readyz answers and every e-mail written before it is delivered or failed.
The campaign fails (exit 1) on a lost demande, a lost or duplicated e-mail,
or a scenario that did not recover.

    .venv/bin/python bench/faults.py            # about 8 minutes on a 2-core machine

Needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin) and
redis-server, as the outage tests do.
"""
import argparse
import asyncio
import http.client
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402

from tests.servers import PostgresCluster, RedisServer, free_port, wait_until  # noqa: E402

PASSWORD = "Campagne-De-Pannes-2026!"
CLAIM_TIMEOUT_S = 90  # EP_MAIL_CLAIM_TIMEOUT_S (production: 300)
FLUSH_EVERY_S = 20  # EP_FLUSH_EVERY_S (production: 300)
RECOVERY_LIMIT_S = 300
MSGID = re.compile(rb"^Message-ID:\s*<[^>]*\.ep(\d+)@", re.I | re.M)


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# ---------------------------------------------------------------- SMTP server


class Sink:
    """Counts the messages accepted (answered 250), by outbox id. ``hold``
    keeps the final answer back; a client that disappears meanwhile has
    delivered nothing (a real server drops a message whose DATA never ended
    with its reply)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.delivered: Counter = Counter()
        self.hold = False
        self.held = threading.Event()
        self.aborted = 0

    async def handle_DATA(self, server, session, envelope):
        match = MSGID.search(envelope.content)
        if self.hold:
            self.held.set()
            transport = getattr(server, "transport", None)
            try:
                while self.hold:
                    if transport is None or transport.is_closing():
                        self.aborted += 1
                        return "451 4.3.0 connexion perdue"
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:  # the client went away: aiosmtpd cancels the handler
                self.aborted += 1
                raise
        with self.lock:
            self.delivered[int(match.group(1)) if match else -1] += 1
        return "250 OK"


class SmtpServer:
    def __init__(self, sink: Sink):
        self.sink, self.port, self.controller = sink, free_port(), None

    def start(self):
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


# ---------------------------------------------------------------- processes


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Proc:
    def __init__(self, name: str, cmd: list[str], env: dict, logdir: Path):
        self.name, self.cmd, self.env = name, cmd, env
        self.log = open(logdir / f"{name}.log", "ab")
        self.proc = None
        self.restarts = 0
        self.started_at = 0.0

    def start(self):
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL to the process and every process it started (RQ's work
        horses have a process group of their own), as a cgroup kill does."""
        if self.proc is None:
            return
        for pid in [self.proc.pid, *descendants(self.proc.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self):
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill()
        self.log.close()


class Supervisor(threading.Thread):
    """systemd's Restart=always, RestartSec=2."""

    def __init__(self, procs: list[Proc]):
        super().__init__(daemon=True)
        self.procs, self.running = procs, True

    def run(self):
        while self.running:
            for p in self.procs:
                if p.proc is not None and not p.alive() and self.running:
                    time.sleep(2)
                    if self.running:
                        say(f"superviseur : {p.name} arrêté ({p.proc.returncode}), relancé")
                        p.restarts += 1
                        p.start()
            time.sleep(0.2)


# ---------------------------------------------------------------- HTTP clients


class Browser:
    def __init__(self, port: int):
        self.port, self.cookies = port, {}

    def request(self, method, path, fields=None):
        from urllib.parse import urlencode

        headers = {}
        body = None
        if fields is not None:
            body = urlencode(fields, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return resp.status, resp.getheader("Location") or "", data

    @staticmethod
    def csrf(page: bytes) -> str:
        match = re.search(rb'name="csrf_token"[^>]*?value="([^"]+)"', page)
        return match.group(1).decode() if match else ""

    def login(self, login: str) -> bool:
        try:
            status, _, page = self.request("GET", "/connexion")
            if status != 200:
                return False
            status, location, _ = self.request("POST", "/connexion", {
                "csrf_token": self.csrf(page), "login": login, "password": PASSWORD})
            return status == 302 and "/connexion" not in location
        except OSError:
            return False


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.phase = "démarrage"
        self.by_phase: dict[str, Counter] = {}
        self.acknowledged: list[tuple[str, int]] = []  # (phase, demande id)
        self.taken: list[tuple[str, int]] = []

    def count(self, key: str, n: int = 1):
        with self.lock:
            self.by_phase.setdefault(self.phase, Counter())[key] += n

    def record(self, status: int | None):
        self.count("requests")
        if status is None:
            self.count("connection_errors")
        elif status >= 500:
            self.count("5xx")
            if status == 503:
                self.count("503")


def _letters(n: int) -> str:
    """A person's name without digits (names accept letters only): 0 → "Aa"."""
    out = ""
    n += 26
    while n:
        n, r = divmod(n, 26)
        out = "abcdefghijklmnopqrstuvwxyz"[r] + out
    return out.capitalize()


def technicien_loop(port, login, caisse_id, dept, stats: Stats, stop: threading.Event, pending: list, seq):
    user = Browser(port)
    token = ""
    while not stop.is_set():
        if not token:
            if not user.login(login):
                stats.record(None)
                time.sleep(1)
                continue
            try:
                status, _, page = user.request("GET", "/demandes/nouvelle/contact")
            except OSError:
                stats.record(None)
                time.sleep(1)
                continue
            stats.record(status)
            token = user.csrf(page) if status == 200 else ""
            continue
        n = next(seq)
        fields = {"csrf_token": token, "caisse_id": str(caisse_id), "civilite": "Mme", "nom": f"Fictif {_letters(n)}",
                  "prenom": "Camille", "date_naissance": f"19{50 + n % 50:02d}-0{1 + n % 9}-1{n % 10}",
                  "departement": dept, "subject": "Changement d'adresse",
                  "message": "La personne a déménagé le mois dernier, merci de mettre à jour son dossier."}
        try:
            status, location, _ = user.request("POST", "/demandes/nouvelle/contact", fields)
        except OSError:
            stats.record(None)
            time.sleep(0.5)
            continue
        stats.record(status)
        if status == 303 and re.search(r"/demandes/(\d+)$", location):
            demande_id = int(re.search(r"/demandes/(\d+)$", location).group(1))
            with stats.lock:
                stats.acknowledged.append((stats.phase, demande_id))
                pending.append(demande_id)
        elif status in (302, 400):  # session or token lost: log in again
            token = ""
        time.sleep(0.3)


def agent_loop(port, login, stats: Stats, stop: threading.Event, pending: list):
    agent = Browser(port)
    token = ""
    while not stop.is_set() or pending:
        if stop.is_set() and time.monotonic() > getattr(stop, "deadline", 0):
            return
        if not token:
            if not agent.login(login):
                stats.record(None)
                time.sleep(1)
                continue
            try:
                status, _, page = agent.request("GET", "/traitement")
            except OSError:
                stats.record(None)
                continue
            stats.record(status)
            token = agent.csrf(page) if status == 200 else ""
            if not token:
                time.sleep(1)
            continue
        with stats.lock:
            demande_id = pending.pop(0) if pending else None
        if demande_id is None:
            time.sleep(0.1)
            continue
        try:
            status, _, _ = agent.request("POST", f"/traitement/demandes/{demande_id}/prise-en-charge",
                                         {"csrf_token": token})
        except OSError:
            status = None
        stats.record(status)
        if status == 303:
            with stats.lock:
                stats.taken.append((stats.phase, demande_id))
        else:
            with stats.lock:
                pending.insert(0, demande_id)  # try again
            if status in (302, 400):
                token = ""
            time.sleep(0.5)


# ---------------------------------------------------------------- the campaign


class Campaign:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="ep-faults-"))
        self.pg = PostgresCluster()
        self.redis = RedisServer()
        self.sink = Sink()
        self.smtp = SmtpServer(self.sink)
        self.stats = Stats()
        self.stop_load = threading.Event()
        self.results = []

    # -- setup

    def setup(self):
        say(f"dossier de travail : {self.tmp}")
        self.pg.init()
        self.pg.start()
        self.db_url = self.pg.createdb("ep_faults").replace("+psycopg", "")
        self.redis.start()
        self.smtp.start()
        self.port = free_port()
        self.env = {**os.environ, "DATABASE_URL": self.db_url, "REDIS_URL": self.redis.url,
                    "EP_RQ_QUEUE": f"faults-{uuid.uuid4().hex[:6]}", "EP_SMTP_HOST": "127.0.0.1",
                    "EP_SMTP_PORT": str(self.smtp.port), "EP_SMTP_TIMEOUT": "5", "EP_MAIL_PRINT": "0",
                    "EP_SECRET_KEY": secrets.token_hex(32), "EP_BASE_URL": "http://ep.faults",
                    "EP_ALLOW_UNSCANNED": "1", "EP_CLAMD_SOCKET": "", "EP_CLAMD_ADDRESS": "",
                    "EP_UPLOAD_DIR": str(self.tmp / "uploads"), "EP_DB_CONNECT_TIMEOUT": "2",
                    "EP_MAIL_CLAIM_TIMEOUT_S": str(CLAIM_TIMEOUT_S), "EP_FLUSH_EVERY_S": str(FLUSH_EVERY_S),
                    "EP_BIND": f"127.0.0.1:{self.port}", "EP_WEB_WORKERS": "2", "EP_WEB_THREADS": "4",
                    "PROMETHEUS_MULTIPROC_DIR": str(self.tmp / "metrics"), "PYTHONPATH": str(ROOT)}
        (self.tmp / "metrics").mkdir()
        bindir = Path(sys.executable).parent
        subprocess.run([str(bindir / "flask"), "--app", "app", "db", "upgrade"], cwd=ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.seed()
        logs = self.tmp / "logs"
        logs.mkdir()
        self.web = Proc("gunicorn", [str(bindir / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "app:app"],
                        self.env, logs)
        self.workers = [Proc(f"worker-{i}", [sys.executable, "-m", "workers.worker"],
                             {**self.env, "EP_WORKER_NAME": f"faults-worker-{i}"}, logs) for i in (1, 2)]
        self.scheduler = Proc("scheduler", [sys.executable, "-m", "workers.scheduler"],
                              {**self.env, "EP_SCHEDULER_NAME": "faults-scheduler"}, logs)
        self.procs = [self.web, *self.workers, self.scheduler]
        for p in self.procs:
            p.start()
        wait_until(self.ready, 60, every=0.2, message="gunicorn /readyz")
        self.supervisor = Supervisor(self.procs)
        self.supervisor.start()
        say(f"en place : PostgreSQL :{self.pg.port}, Redis :{self.redis.port}, SMTP :{self.smtp.port}, "
            f"gunicorn :{self.port} (2 workers), 2 workers RQ, le planificateur")

    def seed(self):
        from ep_web import create_app
        from ep_web.clock import Clock
        from ep_web.extensions import db
        from tests.factories import Factory

        app = create_app({"SQLALCHEMY_DATABASE_URI": self.db_url.replace("postgresql://", "postgresql+psycopg://")},
                         environ={})
        with app.app_context():
            make = Factory(Clock())
            caisse = make.caisse(departements="74")
            self.agent = make.agent(caisse, password=PASSWORD).login
            self.national = make.admin_national(password=PASSWORD).login
            self.techniciens = []
            for _ in range(self.args.clients):
                p = make.partenaire(caisse, members=30)
                self.techniciens.append(make.technicien(p, password=PASSWORD).login)
            self.caisse_id = caisse.id
            db.session.remove()
            db.engine.dispose()

    # -- observation

    def ready(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=3)
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def sql(self, query: str, *params):
        import psycopg

        with psycopg.connect(self.db_url, connect_timeout=2) as conn:
            return conn.execute(query, params).fetchall()

    def outbox_max(self) -> int:
        return self.sql("SELECT coalesce(max(id), 0) FROM outbox_email")[0][0]

    def settled(self, up_to: int) -> bool:
        """Every e-mail up to this id is sent or failed (nothing pending or in flight)."""
        try:
            return self.sql("SELECT count(*) FROM outbox_email WHERE id <= %s AND status NOT IN ('sent', 'failed')",
                            up_to)[0][0] == 0
        except Exception:
            return False

    def background_ok(self) -> bool:
        """Every process up for a few seconds, and the workers and the scheduler
        saying in their heartbeat (within 30 s) that they work normally."""
        if any(not p.alive() or time.monotonic() - p.started_at < 3 for p in self.procs):
            return False
        try:
            rows = dict(self.sql("SELECT name, state FROM worker_heartbeat WHERE seen_at > now() - interval '30 s'"))
        except Exception:
            return False
        return (all(rows.get(w.env["EP_WORKER_NAME"]) in ("idle", "busy") for w in self.workers)
                and rows.get("faults-scheduler") == "scheduling")

    def recover(self, since: float) -> float | None:
        """Seconds from ``since`` until the app is ready, the background
        processes are at work, and the e-mails written so far are settled;
        None past RECOVERY_LIMIT_S."""
        up_to = None
        while time.monotonic() - since < RECOVERY_LIMIT_S:
            if up_to is None:
                try:
                    up_to = self.outbox_max()
                except Exception:
                    time.sleep(0.5)
                    continue
            if self.ready() and self.settled(up_to) and self.background_ok():
                return time.monotonic() - since
            time.sleep(0.5)
        return None

    # -- load

    def start_load(self):
        import itertools

        self.pending: list[int] = []
        seq = itertools.count(1)
        self.threads = [threading.Thread(target=technicien_loop, daemon=True,
                                         args=(self.port, login, self.caisse_id, "74", self.stats, self.stop_load,
                                               self.pending, seq))
                        for login in self.techniciens]
        self.threads.append(threading.Thread(target=agent_loop, daemon=True,
                                             args=(self.port, self.agent, self.stats, self.stop_load, self.pending)))
        for t in self.threads:
            t.start()

    def stop_load_and_drain(self):
        self.stop_load.deadline = time.monotonic() + 60
        self.stop_load.set()
        for t in self.threads:
            t.join(90)

    # -- scenarios

    def scenario(self, name: str, fault, restore=None, hold_s: float = 0, from_fault: bool = False):
        """Recovery is timed from the end of the fault: the service given back
        (``restore``), or the fault itself when what follows is the system's
        own work (``from_fault``)."""
        restarts = {p.name: p.restarts for p in self.procs}
        self.marks.append((name, self.outbox_max()))
        self.stats.phase = name
        say(f"— {name}")
        fault()
        fault_end = time.monotonic()
        if hold_s:
            time.sleep(hold_s)
        if restore:
            restore()
        recovered = self.recover(fault_end if from_fault else time.monotonic())
        say(f"  rétabli en {recovered:.1f} s" if recovered is not None else "  NON RÉTABLI")
        self.results.append((name, recovered, {p.name: p.restarts - restarts[p.name] for p in self.procs}))

    def baseline(self):
        self.scenario("référence (sans panne)", lambda: time.sleep(self.args.baseline))

    def redis_down(self):
        self.scenario(f"Redis tué (kill -9) {self.args.redis_down} s", self.redis.kill, self.redis.start,
                      self.args.redis_down)

    def smtp_down(self):
        self.scenario(f"SMTP arrêté {self.args.smtp_down} s", self.smtp.stop, self.smtp.start, self.args.smtp_down)

    def kill_workers(self):
        def fault():
            for w in self.workers:
                w.kill()

        self.scenario("workers RQ tués (SIGKILL)", fault)

    def kill_mid_send(self):
        """Hold the SMTP answer, kill both workers while a message waits for
        it, then do what the admin_national is asked to: check each e-mail in
        "envoi interrompu" against the SMTP server, resend those that never
        arrived (the "Renvoyer" button)."""
        self.resent = self.checked_delivered = 0

        def fault():
            self.sink.held.clear()
            self.sink.hold = True
            if not self.sink.held.wait(60):
                say("  aucun envoi en cours en 60 s : scénario sans effet")
            for w in self.workers:
                w.kill()
            time.sleep(0.5)
            self.sink.hold = False

        def restore():
            # The claims of the dead workers expire after the claim timeout; the
            # next flush marks the chunk in flight "envoi interrompu".
            deadline = time.monotonic() + CLAIM_TIMEOUT_S + 3 * FLUSH_EVERY_S + 30
            while time.monotonic() < deadline:
                if self.sql("SELECT count(*) FROM outbox_email WHERE status = 'sending'")[0][0] == 0:
                    break
                time.sleep(1)
            self.resend_interrupted()

        self.scenario("workers tués pendant un envoi SMTP", fault, restore, from_fault=True)

    def resend_interrupted(self):
        rows = self.sql("SELECT id FROM outbox_email WHERE status = 'failed' AND last_error LIKE 'Envoi interrompu%%'")
        if not rows:
            return
        admin = Browser(self.port)
        assert admin.login(self.national), "admin_national login"
        status, _, page = admin.request("GET", "/national/taches")
        token = admin.csrf(page)
        for (email_id,) in rows:
            if self.sink.delivered.get(email_id):
                self.checked_delivered += 1  # it did arrive: not sent again
                continue
            status, _, _ = admin.request("POST", f"/national/taches/emails/{email_id}/renvoyer",
                                         {"csrf_token": token})
            self.stats.record(status)
            if status == 303:
                self.resent += 1
        say(f"  envoi interrompu : {len(rows)} e-mail(s) ; arrivés quand même (non renvoyés) : "
            f"{self.checked_delivered} ; renvoyés par « Renvoyer » : {self.resent}")

    def pg_restart(self):
        self.scenario(f"PostgreSQL redémarré ({self.args.pg_down} s d'arrêt)", self.pg.stop, self.pg.start,
                      self.args.pg_down)

    # -- report

    def report(self) -> bool:
        demandes = dict(self.sql("SELECT id, 1 FROM demande"))
        outbox = self.sql("SELECT id, status, created_at FROM outbox_email ORDER BY id")
        delivered = self.sink.delivered
        ok = True
        header = (f"{'scénario':<40} {'requêtes':>8} {'5xx':>5} {'(503)':>5} {'conn.':>5} {'acquit.':>7} "
                  f"{'stockées':>8} {'e-mails':>7} {'livrés':>6} {'doubl.':>6} {'échec':>5} {'relances':>8} "
                  f"{'rétabli':>8}")
        print("\n" + header)
        print("-" * len(header))
        acked_by = Counter(phase for phase, _ in self.stats.acknowledged)
        stored_by = Counter(phase for phase, d in self.stats.acknowledged if d in demandes)
        for name, recovered, restarts in self.results:
            c = self.stats.by_phase.get(name, Counter())
            ids = self.email_ids.get(name, [])
            statuses = {row[0]: row[1] for row in outbox}
            n_delivered = sum(1 for i in ids if delivered.get(i))
            dup = sum(max(delivered.get(i, 0) - 1, 0) for i in ids)
            failed = sum(1 for i in ids if statuses.get(i) == "failed")
            restarted = sum(restarts.values())
            print(f"{name:<40} {c['requests']:>8} {c['5xx']:>5} {c['503']:>5} {c['connection_errors']:>5} "
                  f"{acked_by[name]:>7} {stored_by[name]:>8} {len(ids):>7} {n_delivered:>6} {dup:>6} {failed:>5} "
                  f"{restarted:>8} {(f'{recovered:.0f} s' if recovered is not None else 'NON'):>8}")
            if recovered is None:
                ok = False
        total_acked = len(self.stats.acknowledged)
        lost_demandes = sum(1 for _, d in self.stats.acknowledged if d not in demandes)
        all_ids = [row[0] for row in outbox]
        lost_emails = [i for i in all_ids if not delivered.get(i)]
        duplicated = sum(max(delivered.get(i, 0) - 1, 0) for i in all_ids)
        unknown = sum(v for k, v in delivered.items() if k not in set(all_ids))
        print("-" * len(header))
        print(f"demandes acquittées {total_acked}, stockées {total_acked - lost_demandes}, perdues {lost_demandes} ; "
              f"prises en charge {len(self.stats.taken)}")
        print(f"e-mails écrits {len(all_ids)}, livrés {len(all_ids) - len(lost_emails)}, perdus {len(lost_emails)}, "
              f"en double {duplicated}, inconnus {unknown} ; envoi interrompu renvoyés {self.resent}, "
              f"arrivés quand même {self.checked_delivered} ; messages coupés par le SMTP {self.sink.aborted}")
        if lost_emails:
            detail = self.sql("SELECT id, status, template, last_error FROM outbox_email WHERE id = ANY(%s)",
                              lost_emails[:20])
            for row in detail:
                print("  non livré :", row)
        return ok and lost_demandes == 0 and not lost_emails and duplicated == 0 and unknown == 0

    def assign_emails(self):
        """Outbox ids by scenario: those written from its start to the next one's
        (the last one also owns what the end of the load wrote)."""
        self.email_ids = {}
        marks = self.marks + [(None, 10**12)]
        for (name, first), (_, nxt) in zip(marks, marks[1:]):
            self.email_ids[name] = [i for (i,) in self.sql("SELECT id FROM outbox_email WHERE id > %s AND id <= %s",
                                                           first, nxt)]

    def run(self) -> bool:
        started = time.monotonic()
        self.setup()
        self.marks = []
        try:
            self.start_load()
            for step in (self.baseline, self.redis_down, self.smtp_down, self.kill_workers, self.kill_mid_send,
                         self.pg_restart):
                step()
            self.stats.phase = "fin"
            self.stop_load_and_drain()
            say("charge arrêtée ; dernières prises en charge et envois")
            self.recover(time.monotonic())
            self.resend_interrupted()  # anything interrupted in a later scenario
            self.recover(time.monotonic())
            self.assign_emails()
            alive = [p.name for p in self.procs if not p.alive()]
            ok = self.report()
            if alive:
                print("processus arrêtés à la fin :", alive)
                ok = False
            print(f"\ndurée totale {time.monotonic() - started:.0f} s ; charge moyenne "
                  f"{os.getloadavg()[0]:.1f} ; résultat : {'OK (0 perdu, 0 doublon)' if ok else 'ÉCHEC'}")
            return ok
        finally:
            self.teardown()

    def teardown(self):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave processes behind
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if hasattr(self, "supervisor"):
            self.supervisor.running = False
        for p in getattr(self, "procs", []):
            p.stop()
        self.smtp.stop()
        self.redis.kill()
        self.pg.destroy()
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            say(f"journaux gardés dans {self.tmp / 'logs'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4, help="techniciens créant des demandes en continu")
    parser.add_argument("--baseline", type=int, default=15)
    parser.add_argument("--redis-down", type=int, default=40)
    parser.add_argument("--smtp-down", type=int, default=45)
    parser.add_argument("--pg-down", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="garder les journaux des processus")
    args = parser.parse_args()

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    sys.exit(0 if Campaign(args).run() else 1)


if __name__ == "__main__":
    main()
