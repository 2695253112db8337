"""The antivirus path against a real clamd (started by the conftest), and
fail-closed behaviour when clamd is configured but cannot answer (SPEC §4)."""
import io
import socket
import threading
import time

import pytest

from ep_web.clamav import Clamd, ClamdError
from ep_web.domain import attachments
from ep_web.domain.errors import DomainError
from tests.attachments import samples
from tests.attachments.conftest import EMBEDDED_SIGNATURE, SIGNATURE, free_port
from tests.attachments.samples import upload


@pytest.fixture(params=["socket", "tcp"])
def scanning(request, app, clamd_daemon):
    """The app configured with clamd, over the unix socket then over TCP."""
    if request.param == "socket":
        app.config["CLAMD_SOCKET"] = clamd_daemon.socket
    else:
        app.config["CLAMD_ADDRESS"] = clamd_daemon.address
    return app


def test_client_speaks_instream_to_the_real_daemon(clamd_daemon):
    for client in (Clamd(socket_path=clamd_daemon.socket, timeout=5), Clamd(address=clamd_daemon.address, timeout=5)):
        assert client.ping()
        assert client.scan(io.BytesIO(samples.eicar())) == f"{SIGNATURE}.UNOFFICIAL"
        assert client.scan(io.BytesIO(samples.pdf())) is None
        # Several 64 KiB chunks.
        assert client.scan(io.BytesIO(samples.pdf() + bytes(3 * 1024 * 1024 + 17))) is None
        assert client.scan(io.BytesIO(b"")) is None


def test_eicar_is_refused_with_the_signature_name(scanning):
    with pytest.raises(DomainError) as exc:
        attachments.validate_uploads([upload(samples.pdf(), "bon.pdf"), upload(samples.eicar(), "y.pdf")], 0)
    assert exc.value.message == f"« y.pdf » : un virus a été détecté ({SIGNATURE}), le fichier est refusé."
    assert exc.value.field == "files"


def test_clean_files_pass_the_real_scan(scanning):
    files = [upload(samples.pdf(), "a.pdf"), upload(samples.png(), "b.png"), upload(samples.jpeg(), "c.jpg")]
    prepared = attachments.validate_uploads(files, 0)
    assert [p.content_type for p in prepared] == ["application/pdf", "image/png", "image/jpeg"]
    assert prepared[0].data.read() == samples.pdf()  # the scan did not consume what will be stored


def _waits(prepared) -> list:
    return [p.scan_status.value for p in prepared]


def test_configured_socket_that_does_not_exist_accepts_the_file_waiting_for_its_scan(app, tmp_path):
    app.config["CLAMD_SOCKET"] = str(tmp_path / "absent.sock")
    assert _waits(attachments.validate_uploads([upload(samples.pdf(), "a.pdf")], 0)) == ["en_attente"]


def test_configured_address_nobody_listens_on_accepts_the_file_waiting_for_its_scan(app):
    app.config["CLAMD_ADDRESS"] = f"127.0.0.1:{free_port()}"
    files = [upload(samples.pdf(), "a.pdf"), upload(samples.png(), "b.png")]
    assert _waits(attachments.validate_uploads(files, 0)) == ["en_attente", "en_attente"]


def test_a_daemon_that_never_answers_times_out_and_the_file_waits(app, tmp_path):
    """The upload waits CLAMD_UPLOAD_TIMEOUT at most, once for the whole form."""
    path = str(tmp_path / "mute.sock")
    with socket.socket(socket.AF_UNIX) as mute:  # listens, never accepts nor answers
        mute.bind(path)
        mute.listen(1)
        app.config.update(CLAMD_SOCKET=path, CLAMD_TIMEOUT=30, CLAMD_UPLOAD_TIMEOUT=0.2)
        started = time.monotonic()
        files = [upload(samples.pdf(), "a.pdf"), upload(samples.pdf(), "b.pdf")]
        assert _waits(attachments.validate_uploads(files, 0)) == ["en_attente", "en_attente"]
    assert time.monotonic() - started < 5


def test_a_clean_file_is_sain_and_without_clamd_non_analyse(app, scanning):
    assert _waits(attachments.validate_uploads([upload(samples.pdf(), "a.pdf")], 0)) == ["sain"]
    app.config.update(CLAMD_SOCKET="", CLAMD_ADDRESS="")
    assert _waits(attachments.validate_uploads([upload(samples.pdf(), "a.pdf")], 0)) == ["non_analyse"]


def test_eicar_inside_a_pdf_is_refused_at_upload(scanning):
    with pytest.raises(DomainError) as exc:
        attachments.validate_uploads([upload(samples.pdf(extra=samples.eicar()), "x.pdf")], 0)
    assert exc.value.message == f"« x.pdf » : un virus a été détecté ({EMBEDDED_SIGNATURE}), le fichier est refusé."


def _one_shot_server(path, reply: bytes):
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)

    def serve():
        conn, _ = server.accept()
        with conn:
            conn.settimeout(5)
            received = b""
            while not received.endswith(b"\0\0\0\0"):
                part = conn.recv(65536)
                if not part:
                    break
                received += part
            conn.sendall(reply)
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("reply", [b"INSTREAM size limit exceeded. ERROR\0", b"stream: \0", b"", b"PONG\0"])
def test_anything_but_ok_or_found_is_an_error(tmp_path, reply):
    path = str(tmp_path / "odd.sock")
    thread = _one_shot_server(path, reply)
    with pytest.raises(ClamdError):
        Clamd(socket_path=path, timeout=5).scan(io.BytesIO(samples.pdf()))
    thread.join(5)


def test_configuration_picks_the_socket_first():
    assert Clamd.from_config({}) is None
    assert Clamd.from_config({"CLAMD_SOCKET": "", "CLAMD_ADDRESS": ""}) is None
    both = Clamd.from_config({"CLAMD_SOCKET": "/run/clamd.sock", "CLAMD_ADDRESS": "av:3310"})
    assert (both.socket_path, both.address, both.timeout) == ("/run/clamd.sock", "", 30.0)
    tcp = Clamd.from_config({"CLAMD_ADDRESS": "[::1]:3310", "CLAMD_TIMEOUT": 5})
    assert (tcp.socket_path, tcp.address, tcp.timeout) == ("", "[::1]:3310", 5.0)
