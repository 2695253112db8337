"""The probes and the metrics."""
import pytest

from ep_web.extensions import db
from ep_web.models import EmailStatus, JobRun, OutboxEmail
from tests.servers import free_port


def test_healthz_needs_nothing(app, client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}


def test_readyz_checks_the_database_and_redis_when_configured(app, client):
    assert client.get("/readyz").get_json() == {"status": "ok", "checks": {"database": "ok"}}
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"] == {"database": "ok", "redis": "ConnectionError"}


def test_probes_answer_during_a_maintenance_window(app, make, client, clock):
    from datetime import timedelta

    from ep_web.models import MaintenanceWindow

    db.session.add(MaintenanceWindow(starts_at=clock.now() - timedelta(hours=1),
                                     ends_at=clock.now() + timedelta(hours=1),
                                     message="", created_by_id=make.admin_national().id))
    db.session.commit()
    assert client.get("/").status_code == 503
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200


def _value(text, name, **labels):
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    raise AssertionError(f"{name}{labels} not in the metrics")


@pytest.mark.committed
def test_metrics_from_loopback_without_a_token(app, client, clock):
    db.session.add_all([OutboxEmail(to="a@structure.example", subject="s", body_text="b", created_at=clock.now()),
                        OutboxEmail(to="b@structure.example", subject="s", body_text="b", created_at=clock.now(),
                                    status=EmailStatus.FAILED),
                        JobRun(name="flush_outbox", started_at=clock.now(), finished_at=clock.now(), status="ok",
                               counts={}, duration_ms=1500)])
    db.session.commit()
    client.get("/connexion")
    client.get("/page-qui-n-existe-pas")
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.content_type.startswith("text/plain")
    text = resp.get_data(as_text=True)
    assert 'ep_http_requests_total{endpoint="auth.login",method="GET",status="200"}' in text
    assert 'ep_http_requests_total{endpoint="none",method="GET",status="404"}' in text
    assert 'ep_http_request_duration_seconds_bucket{endpoint="auth.login",le="0.5"}' in text
    assert 'ep_emails{status="pending"} 1.0' in text and 'ep_emails{status="failed"} 1.0' in text
    assert _value(text, "ep_job_last_success_timestamp_seconds", job="flush_outbox") == clock.now().timestamp()
    assert _value(text, "ep_job_last_duration_seconds", job="flush_outbox") == 1.5
    assert _value(text, "ep_job_runs", job="flush_outbox", status="ok") == 1
    assert _value(text, "ep_database_up") == 1


@pytest.mark.parametrize("headers,remote,status", [
    ({}, "10.1.2.3", 403),  # not this machine
    ({"X-Forwarded-For": "203.0.113.9"}, "127.0.0.1", 403),  # relayed by a local proxy
    ({}, "::1", 200),
])
def test_metrics_without_a_token_are_for_this_machine_only(app, client, headers, remote, status):
    resp = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": remote})
    assert resp.status_code == status


def test_metrics_with_a_token(app, client):
    app.config["METRICS_TOKEN"] = "s3cret-token"
    assert client.get("/metrics").status_code == 403  # loopback is not enough any more
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    resp = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"},
                      environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert resp.status_code == 200 and "ep_emails" in resp.get_data(as_text=True)
