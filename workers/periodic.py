"""Periodic jobs. Each is idempotent: running it twice changes nothing more."""
from ep_web.domain.accounts import apply_scheduled_inactivations
from ep_web.transaction import commit
from workers import app_context
from workers.mail import flush_outbox


def apply_gestionnaire_inactivations() -> int:
    with app_context():
        count = apply_scheduled_inactivations()
        commit()
        return count


JOBS = {
    "apply_gestionnaire_inactivations": apply_gestionnaire_inactivations,
    "flush_outbox": flush_outbox,
}


def run_all():
    for name, job in JOBS.items():
        yield name, job()
