"""Maintenance windows (SPEC §5): the request gate (503 page during a window),
the banner's context variable, and the national admin's routes (routes.py)."""
from datetime import timedelta

from flask import Flask, has_request_context, make_response, render_template, request
from flask_login import current_user

from ep_web.models import Profile

# Reachable by everyone during a window: static files (the page's own CSS),
# the login pages (admin_national must be able to log in and end the window:
# password, second-factor code, or ProConnect) and logout. Everything else answers the maintenance page, except for
# admin_national, who keeps the whole portal. The probes (/healthz, /readyz,
# /metrics) answer for the process, whatever the portal shows its users.
OPEN_DURING_MAINTENANCE = {"static", "auth.login", "auth.second_step", "auth.proconnect_login",
                           "auth.proconnect_callback", "auth.logout", "ops.healthz", "ops.readyz", "ops.metrics"}


def request_versions():
    """The CGU version and the maintenance token, read once per request
    (ep_web.domain.site_state: one query)."""
    from ep_web.domain.site_state import read_versions

    # Kept on the request, not on ``g``: an app context may outlive one request
    # (tests, CLI), and a stale state would hide a window that just ended.
    req = request._get_current_object()
    cached = getattr(req, "_ep_versions", None)
    if cached is None:
        cached = req._ep_versions = read_versions()
    return cached


def current_state():
    """The maintenance state of this request: the windows come from this
    process's copy, read again as soon as any window changed (a window ended
    early lifts the page at once, on every server)."""
    from ep_web.clock import now
    from ep_web.domain.maintenance import NOTICE_DAYS, MaintenanceState
    from ep_web.domain.site_state import windows_at

    req = request._get_current_object()
    cached = getattr(req, "_ep_maintenance", None)
    if cached is None:
        current, upcoming = windows_at(request_versions().maintenance_token, now(), timedelta(days=NOTICE_DAYS))
        cached = req._ep_maintenance = MaintenanceState(current, upcoming)
    return cached


def _is_national() -> bool:
    return bool(current_user and current_user.is_authenticated and current_user.profile == Profile.ADMIN_NATIONAL)


def maintenance_response(window):
    """The 503 page: dates, message, and each caisse's "autre canal"."""
    from ep_web.availability import cached_channels, refresh
    from ep_web.domain.maintenance import retry_after_seconds

    try:
        caisses = refresh()  # and keeps the copy the error pages show when the database is down
    except Exception:
        caisses = cached_channels()
    response = make_response(render_template("maintenance/unavailable.html", window=window, caisses=caisses,
                                             hide_maintenance_banner=True), 503)
    response.headers["Retry-After"] = str(retry_after_seconds(window))
    if request.headers.get("HX-Request") == "true":
        # htmx does not swap a 503: reload the whole page, which shows the maintenance page.
        response.headers["HX-Refresh"] = "true"
    return response


def register_maintenance(app: Flask) -> None:
    @app.before_request
    def maintenance_gate():
        if request.endpoint in OPEN_DURING_MAINTENANCE:
            return None
        maintenance = current_state()
        if not maintenance.active or _is_national():
            return None
        return maintenance_response(maintenance.current)

    @app.context_processor
    def maintenance_context():
        from flask import g

        if not has_request_context() or request.endpoint == "static" or g.get("ep_bare"):
            return {}
        return {"maintenance": current_state()}
