"""Periodic job on news (SPEC §6): the digest e-mail, under the job journal.
Idempotent: a second run sends nothing (ep_web.domain.news.send_news_digests)."""
from ep_web.domain import news
from workers.journal import run_job


def send_news_digests() -> dict:
    return run_job("send_news_digests", news.send_news_digests)
