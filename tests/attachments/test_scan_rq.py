"""clamd down at upload, on a real Redis: the commit queues the RQ job that
scans the waiting file, and an RQ worker runs it once clamd is back (SPEC §4,
§8). Needs EP_TEST_REDIS_URL and clamd."""
from ep_web.domain import attachments
from ep_web.extensions import db
from ep_web.models import Account
from ep_web.models.demande import Attachment, ScanStatus
from ep_web.transaction import commit, rollback
from tests.attachments import samples
from tests.attachments.conftest import free_port
from tests.attachments.samples import upload
from tests.workers.conftest import redis_queue, work  # noqa: F401  (the fixture, and the burst worker)


def _upload(demande, data):
    author = db.session.get(Account, demande.author_id)
    [prepared] = attachments.validate_uploads([upload(data, "piece.pdf")], 0)
    return attachments.store(prepared, uploader=author, demande=demande)


def test_the_commit_queues_the_scan_and_a_worker_runs_it(app, demande, clamd_daemon, redis_queue):  # noqa: F811
    app.config.update(CLAMD_SOCKET="", CLAMD_ADDRESS=f"127.0.0.1:{free_port()}")
    _upload(demande, samples.pdf())
    rollback()  # a rolled back upload queues nothing
    assert redis_queue.count == 0

    clean = _upload(demande, samples.pdf())
    infected = _upload(demande, samples.pdf(extra=samples.eicar()))
    commit()
    [job] = redis_queue.jobs
    assert job.func_name == "workers.files.scan_attachments" and job.args == ([clean.id, infected.id],)

    app.config.update(CLAMD_ADDRESS=clamd_daemon.address)  # clamd is back
    work(redis_queue)
    db.session.expire_all()
    assert db.session.get(Attachment, clean.id).scan_status == ScanStatus.SAIN
    assert db.session.get(Attachment, infected.id).scan_status == ScanStatus.INFECTE
