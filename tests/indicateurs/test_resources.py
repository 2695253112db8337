"""Shared resources (SPEC §6): who publishes, who reads, files scanned and
stored like any upload, downloads audited, subscribers told without personal data."""
import io

from ep_web.domain import resources
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.models import AuditEvent, ConventionState, Resource
from tests.attachments import samples
from tests.indicateurs.test_figures import _csrf


def _world(make):
    w = type("W", (), {})()
    w.a, w.b, w.c = make.caisse(), make.caisse(), make.caisse()
    w.p = make.partenaire(w.a)
    make.convention(w.p, w.c, state=ConventionState.TERMINEE)  # ended: C's resources are not P's
    w.tp = make.technicien(w.p)
    w.gp = make.gestionnaire(w.p)
    w.admin_a, w.admin_b, w.admin_c = make.admin_caisse(w.a), make.admin_caisse(w.b), make.admin_caisse(w.c)
    w.national = make.admin_national()
    return w


def test_partners_read_national_and_their_caisses_resources(app, make, clock):
    w = _world(make)
    today = clock.now().date()
    common = dict(description="", category="guide", version="1", published_on=today)
    nat = resources.publish(w.national, title="Guide national", url="https://www.example.org/guide", **common)
    ra = resources.publish(w.admin_a, title="Dépliant A", files=[samples.upload(samples.pdf(), "depliant.pdf")],
                           url="", **common)
    resources.publish(w.admin_b, title="Affiche B", url="https://b.example.org/affiche", **common)
    resources.publish(w.admin_c, title="Affiche C", url="https://c.example.org/affiche", **common)
    db.session.commit()
    assert [r.title for r in resources.list_for(w.tp)] == ["Dépliant A", "Guide national"]
    assert {r.title for r in resources.list_for(w.admin_b)} == {"Affiche B", "Guide national"}
    assert len(resources.list_for(w.national)) == 4
    assert ra.caisse_id == w.a.id and nat.caisse_id is None and ra.attachment.content_type == "application/pdf"
    try:
        resources.publish(w.tp, title="X", url="https://x.example.org", **common)
        raise AssertionError("a technicien published")
    except NotAllowed:
        pass


def test_publish_rules(app, make, clock):
    w = _world(make)
    today = clock.now().date()
    base = dict(title="Guide", description="", category="guide", version="1", published_on=today)
    for over, field in [({"title": ""}, "title"), ({"category": "x"}, "category"),
                        ({"url": "javascript:alert(1)"}, "url"), ({"url": ""}, "file"),
                        ({"version": ""}, "version")]:
        data = {**base, "url": "https://ok.example.org", **over}
        try:
            resources.publish(w.admin_a, **data)
            raise AssertionError(over)
        except DomainError as exc:
            assert exc.field == field, (over, exc.field)
    try:
        resources.publish(w.admin_a, **base, url="", files=[samples.upload(samples.exe(), "outil.pdf")])
        raise AssertionError("an executable was accepted")
    except DomainError as exc:
        assert exc.field == "file"


def test_pages_download_new_version_and_subscription(app, make, clock, client, login, outbox):
    w = _world(make)
    login(w.tp)
    token = _csrf(client, "/ressources")
    assert client.post("/ressources/abonnement", data={"csrf_token": token, "subscribe": "1"}).status_code == 303
    admin = login(w.admin_a, c=app.test_client())
    token_a = _csrf(admin, "/ressources/gestion/nouvelle")
    resp = admin.post("/ressources/gestion/nouvelle", data={
        "csrf_token": token_a, "title": "Aide au signalement", "description": "Fiche pratique",
        "category": "signalement", "version": "1", "published_on": clock.now().date().isoformat(),
        "file": (io.BytesIO(samples.pdf()), "aide.pdf")}, content_type="multipart/form-data")
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    resource = db.session.scalars(db.select(Resource)).one()
    mails = outbox(w.tp.email)
    assert len(mails) == 1 and "Aide au signalement" in mails[0].subject
    assert f"/ressources/{resource.id}" in mails[0].body_text
    page = client.get(f"/ressources/{resource.id}").get_data(as_text=True)
    assert "aide.pdf" in page
    download = client.get(f"/ressources/{resource.id}/fichier")
    assert download.status_code == 200 and download.get_data().startswith(b"%PDF")
    assert "attachment" in download.headers["Content-Disposition"]
    assert db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "document_downloaded")).one()
    # A new version: the same address, a new file, subscribers told.
    bad = admin.post(f"/ressources/gestion/{resource.id}/version", data={
        "csrf_token": token_a, "version": "1", "published_on": clock.now().date().isoformat()})
    assert bad.status_code == 422 and "différent" in bad.get_data(as_text=True)
    ok = admin.post(f"/ressources/gestion/{resource.id}/version", data={
        "csrf_token": token_a, "version": "2", "published_on": clock.now().date().isoformat(),
        "description": "Fiche pratique mise à jour", "file": (io.BytesIO(samples.pdf(b"v2")), "aide-v2.pdf")},
        content_type="multipart/form-data")
    assert ok.status_code == 303
    assert "aide-v2.pdf" in client.get(f"/ressources/{resource.id}").get_data(as_text=True)
    assert len(outbox(w.tp.email)) == 2 and "(2)" in outbox(w.tp.email)[-1].subject
    # Another caisse's referent cannot touch it; a partner of another caisse cannot read it.
    other = login(w.admin_b, c=app.test_client())
    assert other.get(f"/ressources/gestion/{resource.id}/version").status_code == 404
    assert other.get(f"/ressources/{resource.id}").status_code == 404
