"""Attachment tests: uploads go to a temporary UPLOAD_DIR, and a real clamd
runs on a signature database written here (Debian ships none and nothing can
be downloaded): one ``.hdb`` line, the EICAR test file's md5:size:name."""
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from ep_web.clamav import Clamd
from ep_web.extensions import db
from ep_web.models.demande import Demande
from tests.attachments.samples import eicar

SIGNATURE = "Eicar-Test-Signature"
# The EICAR string anywhere in a file (an EICAR inside a PDF that passes the type check).
EMBEDDED_SIGNATURE = "Eicar-Embedded-Test"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _clamd_binary() -> str | None:
    found = shutil.which("clamd")
    if found:
        return found
    return "/usr/sbin/clamd" if os.access("/usr/sbin/clamd", os.X_OK) else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def clamd_daemon():
    """Our own clamd (unix socket + TCP on 127.0.0.1), stopped at the end of
    the session. Without clamd: skipped locally, a failure in CI."""
    binary = _clamd_binary()
    if binary is None:
        message = "clamd introuvable (paquet Debian clamav-daemon) : tests antivirus non lancés"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    # A short path: unix socket paths are limited to 108 bytes.
    home = Path(tempfile.mkdtemp(prefix="ep-clamd-"))
    (home / "db").mkdir()
    data = eicar()
    assert hashlib.md5(data).hexdigest() == "44d88612fea8a8f36de82e1278abb02f"
    (home / "db" / "ep-test.hdb").write_text(f"{hashlib.md5(data).hexdigest()}:{len(data)}:{SIGNATURE}\n")
    # From offset 1 on: the bare file (offset 0) keeps its own signature above.
    (home / "db" / "ep-test.ndb").write_text(f"{EMBEDDED_SIGNATURE}:0:1,26214400:{data.hex()}\n")
    port = free_port()
    conf = home / "clamd.conf"
    conf.write_text(
        f"DatabaseDirectory {home / 'db'}\n"
        f"LocalSocket {home / 'clamd.sock'}\n"
        f"TCPSocket {port}\nTCPAddr 127.0.0.1\n"
        f"Foreground yes\nLogFile {home / 'clamd.log'}\nPidFile {home / 'clamd.pid'}\n"
        f"TemporaryDirectory {home}\nStreamMaxLength 25M\n"
        # Root runs it as root (no drop to the distro's clamav user); anyone else as themselves.
        + ("User root\n" if os.geteuid() == 0 else "")
    )
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = Clamd(socket_path=str(home / "clamd.sock"), timeout=2)
    deadline = time.monotonic() + 60
    try:
        while not client.ping():
            if proc.poll() is not None:
                log = (home / "clamd.log").read_text() if (home / "clamd.log").exists() else ""
                pytest.fail(f"clamd s'est arrêté ({proc.returncode}) : {proc.stderr.read().decode()} {log}")
            if time.monotonic() > deadline:
                pytest.fail("clamd ne répond pas au PING après 60 s")
            time.sleep(0.05)  # waiting for another process to load, not simulating time
        yield SimpleNamespace(socket=str(home / "clamd.sock"), address=f"127.0.0.1:{port}", home=home)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(autouse=True)
def uploads(app, tmp_path):
    """A private UPLOAD_DIR per test, and no scanning unless a test sets it."""
    folder = tmp_path / "uploads"
    app.config.update(UPLOAD_DIR=str(folder), CLAMD_SOCKET="", CLAMD_ADDRESS="")
    return folder


@pytest.fixture
def demande(make):
    """A demande of a technicien (fictitious person)."""
    caisse = make.caisse()
    partenaire = make.partenaire(caisse)
    technicien = make.technicien(partenaire)
    d = Demande(reference=f"EP-2026-{caisse.id:06d}", service="contact", caisse_id=caisse.id,
                partenaire_id=partenaire.id, author_id=technicien.id, civilite="M.", nom="Exemple",
                prenom="Camille", date_naissance=date(1980, 1, 1), departement="75", nom_search="exemple camille")
    db.session.add(d)
    db.session.commit()
    return d
