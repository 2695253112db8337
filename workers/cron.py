"""The schedule of the periodic jobs, for RQ's own scheduler:

    .venv/bin/rq cron workers.cron --url "$REDIS_URL"

(run ONE such process next to the workers; jobs are idempotent, so a second
scheduler would only do the work twice for nothing). RQ computes cron
expressions in UTC: 23:05 UTC is 00:05 in Paris in winter and 01:05 in
summer, just after the Paris day changes — the rules speak of Paris days.
"""
import os

from rq import cron

from workers.demandes import alert_signalements
from workers.mail import flush_outbox
from workers.periodic import nightly_sweep

QUEUE = os.environ.get("EP_RQ_QUEUE", "ep")

cron.register(nightly_sweep, QUEUE, cron="5 23 * * *", job_timeout=3600)
cron.register(alert_signalements, QUEUE, interval=15 * 60, job_timeout=600)
cron.register(flush_outbox, QUEUE, interval=5 * 60, job_timeout=600)
