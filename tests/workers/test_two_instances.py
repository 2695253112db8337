"""Two web servers behind one proxy (README "Production"): two gunicorn
instances, each with its own process and its own local folder, on the same
PostgreSQL, Redis and S3 bucket. A journey alternates between them: nothing a
request needs lives in one process or on one machine."""
import http.client
import os
import re
import secrets
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import inspect
from werkzeug.test import encode_multipart

from ep_web.extensions import db
from ep_web.models import Attachment, Demande
from tests.attachments import samples
from tests.conftest import PASSWORD
from tests.servers import free_port, wait_until
from tests.workers.conftest import REDIS_URL, require_redis

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.postgres_only, pytest.mark.committed]


class Browser:
    """A user agent that keeps its cookies by hand, so that the test decides
    which server each request goes to (cookies do not depend on the port)."""

    def __init__(self):
        self.cookies: dict[str, str] = {}

    def request(self, base: tuple[str, int], method: str, path: str, body: bytes | None = None,
                headers: dict | None = None):
        conn = http.client.HTTPConnection(*base, timeout=30)
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                val = rest.split(";", 1)[0]
                if val and "expires=thu, 01 jan 1970" not in value.lower():
                    self.cookies[key] = val
                else:
                    self.cookies.pop(key, None)
        conn.close()
        return resp.status, dict(resp.getheaders()), data

    def get(self, base, path):
        return self.request(base, "GET", path)

    def post(self, base, path, fields: dict, files: dict | None = None):
        from io import BytesIO

        from werkzeug.datastructures import FileStorage, MultiDict

        values = MultiDict(fields)
        for name, (filename, data, mimetype) in (files or {}).items():
            values.add(name, FileStorage(BytesIO(data), filename=filename, content_type=mimetype))
        boundary, body = encode_multipart(values)
        return self.request(base, "POST", path, body,
                            {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def csrf(html: bytes) -> str:
    match = re.search(rb'name="csrf_token"[^>]*?value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1).decode()


@pytest.fixture
def two_servers(db_url, s3_server, tmp_path):
    require_redis()
    prefix = f"two-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": db_url.replace("+psycopg", ""), "REDIS_URL": REDIS_URL,
           "EP_RQ_QUEUE": f"ep-two-{uuid.uuid4().hex[:8]}", "EP_SECRET_KEY": secrets.token_hex(32),
           "EP_BASE_URL": "http://ep.test", "EP_MAIL_PRINT": "0", "EP_ALLOW_UNSCANNED": "1",
           "EP_CLAMD_SOCKET": "", "EP_CLAMD_ADDRESS": "", "EP_WEB_WORKERS": "1", "EP_WEB_THREADS": "2",
           "PYTHONPATH": str(ROOT), **s3_server.environ(prefix)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    servers, logs = [], []
    for name in ("a", "b"):
        port = free_port()
        log = open(tmp_path / f"gunicorn-{name}.log", "wb")
        logs.append(log)
        proc = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "-c", "deploy/gunicorn.conf.py", "app:app"],
            cwd=ROOT, env={**env, "EP_BIND": f"127.0.0.1:{port}", "EP_UPLOAD_DIR": str(tmp_path / f"uploads-{name}")},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        servers.append((proc, ("127.0.0.1", port)))

    def up(base):
        try:
            conn = http.client.HTTPConnection(*base, timeout=2)
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        except OSError:
            return False

    try:
        for proc, base in servers:
            wait_until(lambda p=proc, b=base: up(b) or p.poll() is not None, 60, message="gunicorn")
            assert proc.poll() is None, (tmp_path / "gunicorn-a.log").read_text()[-3000:]
        yield [base for _, base in servers], prefix
    finally:
        for proc, _ in servers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, _ in servers:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for log in logs:
            log.close()


def test_a_journey_alternating_between_two_servers(app, make, two_servers, s3_server, tmp_path):
    (a, b), prefix = two_servers
    caisse = make.caisse()
    partenaire = make.partenaire(caisse)
    make.convention(partenaire, caisse)
    technicien = make.technicien(partenaire)
    login, dept, caisse_id = technicien.login, caisse.departement_list[0], caisse.id
    db.session.close()
    user = Browser()

    # Log in on A.
    status, _, page = user.get(a, "/connexion")
    assert status == 200
    status, headers, _ = user.post(a, "/connexion", {"csrf_token": csrf(page), "login": login, "password": PASSWORD})
    assert status == 302 and "/connexion" not in headers["Location"], headers
    # The form on B: the session A opened is B's too.
    status, _, page = user.get(b, "/demandes/nouvelle/contact")
    assert status == 200, page[:300]
    pdf = samples.pdf()
    status, headers, body = user.post(b, "/demandes/nouvelle/contact", {
        "csrf_token": csrf(page), "caisse_id": str(caisse_id), "civilite": "Mme", "nom": "Exemple",
        "prenom": "Camille", "date_naissance": "1980-05-17", "departement": dept,
        "subject": "Changement d'adresse", "message": "La personne a déménagé le mois dernier."},
        files={"files": ("justificatif.pdf", pdf, "application/pdf")})
    assert status == 303, body.decode(errors="replace")[:2000]
    demande_path = headers["Location"].replace("http://ep.test", "")
    demande = db.session.scalars(db.select(Demande)).one()
    attachment = db.session.scalars(db.select(Attachment)).one()
    assert demande_path.endswith(f"/demandes/{demande.id}")
    # The file is in the bucket, on neither server's disk.
    assert s3_server.keys(prefix) == [f"{prefix}/{attachment.stored_name}"]
    for name in ("a", "b"):
        folder = tmp_path / f"uploads-{name}"
        assert not folder.exists() or list(folder.iterdir()) == []

    # The demande and its file from A.
    status, _, page = user.get(a, demande_path)
    assert status == 200 and demande.reference.encode() in page
    link = f"/demandes/{demande.id}/pieces/{attachment.id}"
    assert link.encode() in page
    status, headers, data = user.get(a, link)
    assert status == 200 and data == pdf
    assert headers["Content-Disposition"].startswith("attachment;")

    # Log out on B: the cookie of that session no longer opens anything, on either server.
    stale = dict(user.cookies)
    status, _, page = user.get(b, demande_path)
    status, headers, _ = user.post(b, "/deconnexion", {"csrf_token": csrf(page)})
    assert status == 303
    status, headers, _ = user.get(a, demande_path)
    assert status == 302 and "/connexion" in headers["Location"]
    replay = Browser()
    replay.cookies = stale
    status, headers, _ = replay.get(a, demande_path)
    if "user_session" in inspect(db.engine).get_table_names():
        # Server-side sessions: logging out on B ended the session for every server.
        assert status == 302 and "/connexion" in headers["Location"]
    else:
        # Signed cookie sessions: a copy of the cookie taken before the logout still
        # opens the demande, on any server (server-side sessions will close this).
        assert status == 200
