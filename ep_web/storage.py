"""Where uploaded files live (SPEC §4 attachments: outside the web root, under
a generated name; served only through a route that checked the permission).

Two back ends behind one interface, chosen by the configuration:

- ``LocalStorage`` (default): a private folder, ``UPLOAD_DIR`` (0700, files
  0600). Enough for one machine; every web server and worker must see the
  same folder, so several machines need the next one.
- ``S3Storage`` when ``EP_STORAGE_URL`` is set: an S3-compatible bucket
  (SeaweedFS, MinIO, Garage, a cloud provider's object storage), through
  boto3. ``s3://BUCKET[/PREFIX]?endpoint=URL[&region=R][&sse=AES256]`` with
  ``EP_STORAGE_ACCESS_KEY`` / ``EP_STORAGE_SECRET_KEY`` (without them, boto3's
  usual sources: environment, instance role). The bucket must exist and stay
  private: the app never hands out bucket URLs, it streams each download
  after its permission check.

Both take a name (32 hex characters, ``ep_web.domain.attachments``) and:
``put(name, file)``, ``open(name) -> (file, size)`` (``FileNotFoundError``
when it is gone), ``delete(name) -> bool``, and ``older_than(epoch) ->
(names, partial files removed)`` for the orphan sweep. A store that cannot be
reached raises ``StorageUnavailable`` (the caller says so in French).
"""
import os
import re
import threading
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, urlsplit

from flask import Flask, current_app

READ_CHUNK = 64 * 1024
PART_SUFFIX = ".part"
NAME = re.compile(r"^[0-9a-f]{32}$")


class StorageUnavailable(Exception):
    """The file store did not answer (network, credentials, missing bucket)."""


def _check(name: str) -> str:
    if not NAME.match(name or ""):
        raise ValueError(f"nom de fichier stocké invalide : {name!r}")
    return name


class LocalStorage:
    kind = "local"

    def __init__(self, folder: Path):
        self.folder = folder

    @classmethod
    def for_app(cls, app: Flask) -> "LocalStorage":
        """UPLOAD_DIR, created private (0700). Refuses a folder under static/:
        files must never be reachable without the permission check of a route."""
        path = Path(app.config["UPLOAD_DIR"]).resolve()
        static = Path(app.static_folder).resolve() if app.static_folder else None
        if static is not None and (path == static or static in path.parents):
            raise RuntimeError(f"UPLOAD_DIR ({path}) ne doit pas être sous static/ ({static})")
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return cls(path)

    def path(self, name: str) -> Path:
        return self.folder / _check(name)

    def put(self, name: str, data: IO[bytes]) -> None:
        """Written to ``<name>.part``, synced, then renamed: a stored name never
        points to half a file. Mode 0600 whatever the umask."""
        final = self.path(name)
        part = self.folder / (name + PART_SUFFIX)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as out:
                data.seek(0)
                while chunk := data.read(READ_CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(part, final)
        except BaseException:
            part.unlink(missing_ok=True)
            raise

    def open(self, name: str) -> tuple[IO[bytes], int]:
        path = self.path(name)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        return os.fdopen(fd, "rb"), os.fstat(fd).st_size

    def delete(self, name: str) -> bool:
        try:
            self.path(name).unlink()
            return True
        except FileNotFoundError:
            return False

    def older_than(self, limit: float) -> tuple[list[str], int]:
        names, parts = [], 0
        for path in self.folder.iterdir():
            try:
                if not path.is_file() or path.stat().st_mtime > limit:
                    continue
            except FileNotFoundError:
                continue
            if path.name.endswith(PART_SUFFIX) and NAME.match(path.name[: -len(PART_SUFFIX)]):
                path.unlink(missing_ok=True)  # a write that never finished
                parts += 1
            elif NAME.match(path.name):
                names.append(path.name)
        return names, parts


class S3Storage:
    kind = "s3"

    def __init__(self, url: str, access_key: str | None = None, secret_key: str | None = None):
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise RuntimeError(f"EP_STORAGE_URL invalide : {url!r} (attendu s3://BUCKET/PREFIXE?endpoint=URL)")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.bucket = parts.netloc
        prefix = parts.path.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.endpoint = query.get("endpoint") or None
        self.region = query.get("region") or "us-east-1"
        self.sse = query.get("sse") or None
        self._access_key, self._secret_key = access_key or None, secret_key or None
        self._local = threading.local()  # boto3 clients are thread-safe, their creation is not

    @property
    def client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            import boto3
            from botocore.config import Config

            session = boto3.session.Session()
            client = session.client(
                "s3", endpoint_url=self.endpoint, region_name=self.region,
                aws_access_key_id=self._access_key, aws_secret_access_key=self._secret_key,
                config=Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=30,
                              retries={"max_attempts": 3, "mode": "standard"}))
            self._local.client = client
        return client

    def key(self, name: str) -> str:
        return self.prefix + _check(name)

    def _call(self, method: str, **kw):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kw)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"NoSuchKey", "404", "NotFound"}:
                raise FileNotFoundError(kw.get("Key", "")) from exc
            raise StorageUnavailable(f"S3 {method} : {code or exc}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"S3 {method} : {exc}") from exc

    def put(self, name: str, data: IO[bytes]) -> None:
        data.seek(0, os.SEEK_END)
        size = data.tell()
        data.seek(0)
        extra = {"ServerSideEncryption": self.sse} if self.sse else {}
        self._call("put_object", Key=self.key(name), Body=data, ContentLength=size,
                   ContentType="application/octet-stream", **extra)

    def open(self, name: str) -> tuple[IO[bytes], int]:
        answer = self._call("get_object", Key=self.key(name))
        return answer["Body"], int(answer["ContentLength"])

    def delete(self, name: str) -> bool:
        # S3 answers a DELETE of a missing key with success: ask first, so
        # that the purge counts what it really removed.
        try:
            self._call("head_object", Key=self.key(name))
        except FileNotFoundError:
            return False
        self._call("delete_object", Key=self.key(name))
        return True

    def older_than(self, limit: float) -> tuple[list[str], int]:
        """A PUT is atomic on S3: no partial files to remove."""
        names, token = [], None
        while True:
            kw = {"Prefix": self.prefix, "MaxKeys": 1000}
            if token:
                kw["ContinuationToken"] = token
            page = self._call("list_objects_v2", **kw)
            for obj in page.get("Contents", []):
                name = obj["Key"][len(self.prefix):]
                if NAME.match(name) and obj["LastModified"].timestamp() <= limit:
                    names.append(name)
            if not page.get("IsTruncated"):
                return names, 0
            token = page.get("NextContinuationToken")

    def ping(self) -> None:
        self._call("head_bucket")


def get_storage(app: Flask | None = None):
    """The app's file store, as configured now (tests change UPLOAD_DIR per test).
    An S3 store is built once per configuration and kept (its clients pool
    their connections)."""
    app = app or current_app._get_current_object()
    url = app.config.get("STORAGE_URL") or ""
    if not url:
        return LocalStorage.for_app(app)
    key = (url, app.config.get("STORAGE_ACCESS_KEY"), app.config.get("STORAGE_SECRET_KEY"))
    cached = app.extensions.get("ep_storage")
    if cached is None or cached[0] != key:
        cached = app.extensions["ep_storage"] = (key, S3Storage(*key))
    return cached[1]
