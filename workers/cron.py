"""The schedule of the periodic jobs, for the scheduler:

    .venv/bin/python -m workers.scheduler      (RQ's cron scheduler, riding out outages)

(RQ's own ``rq cron workers.cron --url "$REDIS_URL"`` reads it too, but exits
on the first Redis error.) Run ONE scheduler next to the workers; jobs are
idempotent, so a second one would only do the work twice for nothing. RQ
computes cron expressions in UTC: 23:05 UTC is 00:05 in Paris in winter and
01:05 in summer, just after the Paris day changes — the rules speak of Paris
days. The periods are those the monitoring checks (ep_web.domain.monitoring).
"""
import os

from rq import cron

from ep_web.domain.monitoring import PERIODS
from workers.demandes import alert_signalements
from workers.files import scan_pending_files
from workers.mail import flush_outbox
from workers.periodic import nightly_sweep

QUEUE = os.environ.get("EP_RQ_QUEUE", "ep")
# The flush is about e-mail: on the mail queue, never behind a nightly sweep.
MAIL_QUEUE = os.environ.get("EP_RQ_MAIL_QUEUE") or f"{QUEUE}-mail"


def _seconds(name: str) -> int:
    return int(PERIODS[name].total_seconds())


cron.register(nightly_sweep, QUEUE, cron="5 23 * * *", job_timeout=3600)
cron.register(alert_signalements, QUEUE, interval=_seconds("alert_signalements"), job_timeout=600)
cron.register(scan_pending_files, QUEUE, interval=_seconds("scan_pending_files"), job_timeout=1800)
cron.register(flush_outbox, MAIL_QUEUE, interval=_seconds("flush_outbox"), job_timeout=600)
