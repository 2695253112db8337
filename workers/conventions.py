"""Periodic job on conventions (SPEC §2-3): tacit renewal, end at term, and the
end-of-convention rule on the partner's accounts."""
from ep_web.domain import lifecycle
from workers.journal import run_job


def renew_and_end_conventions() -> dict:
    return run_job("renew_and_end_conventions", lifecycle.renew_and_end_conventions)
