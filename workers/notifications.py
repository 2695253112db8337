"""Periodic job on notifications (SPEC §6): the daily digest e-mail, under the
job journal. Idempotent: a second run sends nothing
(ep_web.domain.notifications.send_digests); an empty digest is never sent."""
from ep_web.domain import notifications
from workers.journal import run_job


def send_notification_digests() -> dict:
    return run_job("send_notification_digests", notifications.send_digests)
