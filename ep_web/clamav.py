"""A small client for ClamAV's clamd (SPEC §4: every attachment is scanned
before it is accepted).

It speaks the documented INSTREAM command (clamd(8)): ``zINSTREAM\\0``, then
chunks each prefixed by their length as 4 bytes big-endian, a zero-length
chunk to finish; clamd answers ``stream: OK``, ``stream: <Signature> FOUND``
or ``<reason> ERROR``, NUL-terminated. Over a unix socket (``CLAMD_SOCKET``)
or TCP (``CLAMD_ADDRESS`` = ``host:port``, ``[::1]:3310`` for IPv6).

Written here rather than taken from PyPI: ``clamd`` and ``pyclamd`` are
unmaintained (2014, 2017); ``clamav-client`` is maintained but GPL-2.0, TCP over
IPv4 only, and lets a broken pipe escape as a bare OSError. The protocol is a
few lines and is tested against the real daemon (tests/attachments).
"""
import socket
import struct

CHUNK = 64 * 1024
MAX_REPLY = 4096


class ClamdError(Exception):
    """The scan could not be done (daemon down, timeout, refusal, garbled
    reply). Callers must treat the file as not scanned: fail closed."""


class Clamd:
    def __init__(self, socket_path: str = "", address: str = "", timeout: float = 30.0):
        if not socket_path and not address:
            raise ValueError("clamd: a socket path or a host:port is needed")
        self.socket_path, self.address, self.timeout = socket_path, address, timeout

    @classmethod
    def from_config(cls, config) -> "Clamd | None":
        """The configured daemon, or None when scanning is not configured."""
        path, address = config.get("CLAMD_SOCKET", ""), config.get("CLAMD_ADDRESS", "")
        if not path and not address:
            return None
        return cls(path, "" if path else address, float(config.get("CLAMD_TIMEOUT", 30)))

    def _connect(self) -> socket.socket:
        try:
            if self.socket_path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                try:
                    sock.connect(self.socket_path)
                except BaseException:
                    sock.close()
                    raise
                return sock
            host, _, port = self.address.rpartition(":")
            return socket.create_connection((host.strip("[]"), int(port)), timeout=self.timeout)
        except (OSError, ValueError) as exc:
            raise ClamdError(f"connexion à clamd impossible ({self.socket_path or self.address}) : {exc}") from exc

    @staticmethod
    def _reply(sock: socket.socket) -> str:
        data = b""
        while not data.endswith(b"\0") and len(data) < MAX_REPLY:
            part = sock.recv(MAX_REPLY)
            if not part:
                break
            data += part
        return data.rstrip(b"\0\n").decode("utf-8", "replace")

    def ping(self) -> bool:
        try:
            with self._connect() as sock:
                sock.sendall(b"zPING\0")
                return self._reply(sock) == "PONG"
        except (ClamdError, OSError):
            return False

    def scan(self, stream) -> str | None:
        """Stream a binary file object to clamd: the signature name if a virus
        is found, None if clean. Raises ClamdError whenever the answer is not a
        clear OK/FOUND (each socket operation is bounded by ``timeout``)."""
        with self._connect() as sock:
            try:
                sock.sendall(b"zINSTREAM\0")
                while chunk := stream.read(CHUNK):
                    sock.sendall(struct.pack("!L", len(chunk)) + chunk)
                sock.sendall(struct.pack("!L", 0))
            except OSError as exc:
                # clamd closes the stream past StreamMaxLength: say what it said.
                reply = ""
                try:
                    reply = self._reply(sock)
                except OSError:
                    pass
                raise ClamdError(f"envoi à clamd interrompu : {reply or exc}") from exc
            try:
                reply = self._reply(sock)
            except OSError as exc:
                raise ClamdError(f"pas de réponse de clamd : {exc}") from exc
        if reply == "stream: OK":
            return None
        if reply.startswith("stream: ") and reply.endswith(" FOUND"):
            return reply[len("stream: "):-len(" FOUND")]
        raise ClamdError(f"réponse inattendue de clamd : {reply!r}")
