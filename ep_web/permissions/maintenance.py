"""Maintenance windows are national support's (SPEC §5)."""
from flask import abort
from flask_login import current_user

from ep_web.extensions import db
from ep_web.models import MaintenanceWindow, Profile


def get_window_or_404(window_id: int) -> MaintenanceWindow:
    window = db.session.get(MaintenanceWindow, window_id)
    if window is None or current_user.profile != Profile.ADMIN_NATIONAL:
        abort(404)
    return window
