"""A worker SIGKILLed and restarted under the same name by its supervisor
(systemd's ep-worker@N, Restart=always) starts at once: RQ would refuse the
name while the dead process's key lives on in Redis (README "Production")."""
import socket
import subprocess

import pytest

from workers.worker import Worker


def _namesake(conn, name, pid, hostname=None):
    conn.hset(f"rq:worker:{name}", mapping={"hostname": hostname or socket.gethostname(), "pid": pid,
                                            "birth": "2026-01-01T00:00:00.000000Z"})
    conn.expire(f"rq:worker:{name}", 120)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_dead_namesake_on_this_host_gives_its_name_back(app, redis_queue):
    conn = redis_queue.connection
    name = f"{redis_queue.name}-w1"
    _namesake(conn, name, _dead_pid())
    worker = Worker([redis_queue], connection=conn, name=name, app=app)
    try:
        worker.register_birth()
        assert conn.hget(worker.key, "pid").decode() == str(worker.pid)
        assert not conn.hexists(worker.key, "death")
    finally:
        worker.register_death()


def test_a_living_namesake_still_refuses_the_name(app, redis_queue):
    conn = redis_queue.connection
    alive = subprocess.Popen(["sleep", "30"])
    other_host = f"{redis_queue.name}-w3"
    try:
        name = f"{redis_queue.name}-w2"
        _namesake(conn, name, alive.pid)
        with pytest.raises(ValueError, match="exists an active worker"):
            Worker([redis_queue], connection=conn, name=name, app=app).register_birth()
        # Another machine's process cannot be checked from here: left alone too.
        _namesake(conn, other_host, _dead_pid(), hostname="another-host.example")
        with pytest.raises(ValueError, match="exists an active worker"):
            Worker([redis_queue], connection=conn, name=other_host, app=app).register_birth()
    finally:
        alive.kill()
        alive.wait()
        conn.delete(f"rq:worker:{redis_queue.name}-w2", f"rq:worker:{other_host}")
