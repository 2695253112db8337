"""The periodic jobs. Each is idempotent (running it twice changes nothing
more) and set-based (see ep_web.domain.lifecycle); each run is journaled.

- NIGHTLY, in this order, once a day just after midnight Paris time
  (``nightly_sweep``, scheduled by workers/cron.py): conventions first (their
  end inactivates accounts the later rules then leave alone), then the
  gestionnaires leaving on the day, the idle techniciens, deletions,
  reminders, the retention purge.
- FREQUENT: the signalement 48 h alerts (every 15 min) and the outbox flush
  (every 5 min).

``flask ep run-jobs`` runs every one of them once (cron deployments without
Redis, and tests).
"""
import logging

from workers import app_context
from workers.accounts import (
    apply_gestionnaire_inactivations as _apply_gestionnaire_inactivations,
)
from workers.accounts import (
    delete_inactive_accounts,
    inactivate_idle_techniciens,
    remind_habilitation_reviews,
    remind_password_expiry,
    warn_idle_techniciens,
)
from workers.conventions import renew_and_end_conventions
from workers.demandes import alert_signalements, purge_closed_demandes, rollup_statistics
from workers.files import scan_pending_files
from workers.journal import SKIPPED, exclusive
from workers.mail import flush_outbox
from workers.news import send_news_digests
from workers.notifications import send_notification_digests

log = logging.getLogger(__name__)

NIGHTLY = {
    "renew_and_end_conventions": renew_and_end_conventions,
    "apply_gestionnaire_inactivations": _apply_gestionnaire_inactivations,
    "warn_idle_techniciens": warn_idle_techniciens,
    "inactivate_idle_techniciens": inactivate_idle_techniciens,
    "delete_inactive_accounts": delete_inactive_accounts,
    "remind_password_expiry": remind_password_expiry,
    "remind_habilitation_reviews": remind_habilitation_reviews,
    "rollup_statistics": rollup_statistics,  # before the purge: purged demandes keep counting
    "purge_closed_demandes": purge_closed_demandes,
    "send_news_digests": send_news_digests,  # weekly per user, enforced by the job itself
    "send_notification_digests": send_notification_digests,  # SPEC §6: the daily digest, skipped when empty
}
FREQUENT = {
    "alert_signalements": alert_signalements,
    "scan_pending_files": scan_pending_files,
    "flush_outbox": flush_outbox,
}
JOBS = {**NIGHTLY, **FREQUENT}


class SweepFailed(Exception):
    pass


def nightly_sweep() -> dict:
    """Run the nightly jobs in order. A failing job is journaled and does not
    stop the others; the sweep then fails as a whole (RQ shows it failed).

    One sweep at a time (two schedulers queue it twice): each job already runs
    alone, but a second sweep started meanwhile would run the later jobs before
    the first sweep's earlier ones, against the order above. It is skipped."""
    with app_context(), exclusive("nightly_sweep") as mine:
        if not mine:
            log.info("nightly sweep already running elsewhere: skipped")
            return dict(SKIPPED)
        return _sweep()


def _sweep() -> dict:
    results, failed = {}, []
    for name, job in NIGHTLY.items():
        try:
            results[name] = job()
        except Exception as exc:  # journaled by run_job
            failed.append(name)
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    if failed:
        raise SweepFailed(f"jobs en échec : {', '.join(failed)} — voir le journal des tâches")
    return results


def run_all():
    """Every periodic job once, in order; yields (name, counts or error)."""
    for name, job in JOBS.items():
        try:
            yield name, job()
        except Exception as exc:  # journaled by run_job; go on with the others
            yield name, f"ÉCHEC {type(exc).__name__}: {exc}"


def apply_gestionnaire_inactivations() -> int:
    """The number of gestionnaires inactivated on their leaving date (journaled run)."""
    return _apply_gestionnaire_inactivations()["inactivated"]
