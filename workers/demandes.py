"""Periodic jobs on demandes (SPEC §4 signalement 48 h, §7 statistics and retention)."""
from ep_web.domain import lifecycle
from workers.journal import run_job


def alert_signalements() -> dict:
    return run_job("alert_signalements", lifecycle.alert_signalements)


def rollup_statistics() -> dict:
    from ep_web.domain import statistics

    return run_job("rollup_statistics", statistics.rollup)


def purge_closed_demandes() -> dict:
    def work():
        counts = lifecycle.purge_closed_demandes()
        counts["journal_pruned"] = lifecycle.prune_journal()
        return counts

    return run_job("purge_closed_demandes", work)
