"""Who reports, sees and follows up a suspected data breach (SPEC §7, §8)."""
from flask import abort
from flask_login import current_user

from ep_web.extensions import db
from ep_web.models import Account, BreachReport, Profile

PARTNER_PROFILES = (Profile.TECHNICIEN, Profile.GESTIONNAIRE)
CAISSE_PROFILES = (Profile.AGENT, Profile.ADMIN_CAISSE)


def reporter_side(account: Account) -> str | None:
    if account.profile in PARTNER_PROFILES:
        return "partenaire"
    if account.profile in CAISSE_PROFILES:
        return "caisse"
    if account.profile == Profile.ADMIN_NATIONAL:
        return "national"
    return None


def can_report_breach(account: Account) -> bool:
    """SPEC §7: any user reports a suspected breach."""
    return reporter_side(account) is not None


def can_view_breach(account: Account, report: BreachReport) -> bool:
    """A partner's users see their structure's reports; a caisse's users,
    those addressed to their caisse; national, every one."""
    if account.profile in PARTNER_PROFILES:
        return report.partenaire_id is not None and account.partenaire_id == report.partenaire_id
    if account.profile in CAISSE_PROFILES:
        return account.caisse_id == report.caisse_id
    return account.profile == Profile.ADMIN_NATIONAL


def can_follow_up_breach(account: Account, report: BreachReport) -> bool:
    """The caisse's référent (admin_caisse) qualifies, decides on the CNIL
    and closes; national and the agents read."""
    return account.profile == Profile.ADMIN_CAISSE and account.caisse_id == report.caisse_id


def get_breach_or_404(report_id: int) -> BreachReport:
    report = db.session.get(BreachReport, report_id)
    if report is None or not can_view_breach(current_user, report):
        abort(404)
    return report
