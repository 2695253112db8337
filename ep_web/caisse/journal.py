"""The caisse's audit log (SPEC §7): security-relevant actions, searchable."""
from flask_login import current_user

from ep_web.audit_search import audit_page
from ep_web.caisse import admin_required, bp


@bp.get("/journal")
@admin_required
def audit():
    return audit_page(caisse_id=current_user.caisse_id)
