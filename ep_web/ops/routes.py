"""The probes and the metrics. None of them reads the session or the user;
/healthz reads nothing at all."""
import hmac
import ipaddress

from flask import Blueprint, abort, current_app, jsonify, make_response, request

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up and answers (a supervisor restarts it otherwise)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready to serve: the database answers, and Redis when one is configured
    (a load balancer sends no traffic here otherwise)."""
    from ep_web.domain.health import readiness

    checks = readiness()
    ok = all(c == "ok" for c in checks.values())
    response = jsonify(status="ok" if ok else "indisponible", checks=checks)
    response.status_code = 200 if ok else 503
    return response


def _allowed() -> bool:
    token = current_app.config["METRICS_TOKEN"]
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    # No token: this machine only. A request relayed by a local proxy looks
    # local too, so one that carries a forwarding header is refused.
    if any(h in request.headers for h in ("X-Forwarded-For", "Forwarded", "X-Real-Ip")):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
def metrics():
    from ep_web.metrics import render

    if not _allowed():
        abort(403)
    body, content_type = render(current_app._get_current_object())
    response = make_response(body)
    response.headers["Content-Type"] = content_type
    return response
