"""Periodic jobs on accounts (SPEC §3). Each runs a set-based rule of
ep_web.domain.lifecycle under the job journal; each is idempotent."""
from ep_web.domain import lifecycle
from workers.journal import run_job


def warn_idle_techniciens() -> dict:
    return run_job("warn_idle_techniciens", lifecycle.warn_idle_techniciens)


def inactivate_idle_techniciens() -> dict:
    return run_job("inactivate_idle_techniciens", lifecycle.inactivate_idle_techniciens)


def delete_inactive_accounts() -> dict:
    return run_job("delete_inactive_accounts", lifecycle.delete_inactive_accounts)


def apply_gestionnaire_inactivations() -> dict:
    return run_job("apply_gestionnaire_inactivations", lifecycle.apply_gestionnaire_inactivations)


def remind_password_expiry() -> dict:
    return run_job("remind_password_expiry", lifecycle.remind_password_expiry)


def remind_habilitation_reviews() -> dict:
    return run_job("remind_habilitation_reviews", lifecycle.remind_habilitation_reviews)


def send_password_reset(login_or_email: str, ip: str = "") -> None:
    """SPEC §3 « Mot de passe oublié »: the lookup and the e-mail, out of the
    request (ep_web.jobs.enqueue_after_response), so that the page answers the
    same, in the same time, whether or not the login exists."""
    from ep_web.domain.accounts import request_password_reset
    from ep_web.transaction import commit, rollback
    from workers import app_context

    with app_context():
        try:
            request_password_reset(login_or_email, ip=ip)
            commit()
        except Exception:
            rollback()
            raise
