"""The breach report pages through the client (SPEC §7, §8): the form keeps
what was typed and says what is wrong next to the field, the report page
shows both clocks, the follow-up is the caisse referent's, the DPO mailbox is
set by national and the caisse, the links are where people look."""
import pytest

from ep_web.domain.caisses import update_caisse
from ep_web.extensions import db
from ep_web.models import AuditEvent, BreachReport
from tests.national.test_caisses_domain import caisse_data


@pytest.fixture
def w(make):
    return make.world()


FORM = {"description": "Un courrier avec des pièces jointes a été envoyé à une autre structure.",
        "noticed_date": "02/03/2026", "noticed_time": "08:15", "concerned": "Deux demandes de la semaine."}


def _post(client, caisse, **kw):
    return client.post("/violations/nouveau", data={**FORM, "caisse_id": str(caisse.id), **kw})


def test_the_links_are_in_the_footer_the_header_and_the_home_page(w, login):
    home = login(w.technicien).get("/").get_data(as_text=True)
    assert home.count('href="/violations/nouveau"') >= 2  # footer and the home page callout
    assert 'href="/violations"' in home


def test_report_journey_through_the_form(w, login, app, outbox):
    client = login(w.technicien)
    page = client.get("/violations/nouveau").get_data(as_text=True)
    assert "Signaler une suspicion de violation de données" in page and w.caisse.name in page

    # The test clock is 10:00 in Paris: 11:00 is an hour ahead.
    future = _post(client, w.caisse, noticed_time="11:00")
    body = future.get_data(as_text=True)
    assert future.status_code == 422 and "ne peuvent pas être dans le futur" in body
    assert "Un courrier avec des pièces jointes" in body and 'value="11:00"' in body  # nothing typed is lost
    assert 'aria-invalid="true"' in body and "fr-messages-group" in body

    nir = _post(client, w.caisse, concerned="Madame 2 85 05 78 006 084 36")
    assert nir.status_code == 422 and "NIR" in nir.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(BreachReport.id))) == 0 and outbox() == []

    done = _post(client, w.caisse)
    assert done.status_code == 303
    report = db.session.scalars(db.select(BreachReport)).one()
    assert done.headers["Location"].endswith(f"/violations/{report.id}")
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert report.reference in page and "est transmis" in page
    assert "Signalé 1 h 45 min après le constat : dans le délai de 24 h." in page
    assert "Il reste 3 j." in page and "Deux demandes de la semaine." in page
    assert "sont faites par le référent" in page and 'action="/violations/' not in page  # no follow-up form
    assert {m.to for m in outbox()} == {w.caisse.referent_email, w.admin.email}
    colleague = login(w.gestionnaire, c=app.test_client())  # the structure's reports, a colleague's too
    assert colleague.get(f"/violations/{report.id}").status_code == 200


def test_other_structures_and_caisses_get_a_404(w, login, app):
    client = login(w.technicien)
    _post(client, w.caisse)
    report = db.session.scalars(db.select(BreachReport)).one()
    for account in (w.other_technicien, w.other_admin):
        other = login(account, c=app.test_client())
        assert other.get(f"/violations/{report.id}").status_code == 404
        assert report.reference not in other.get("/violations").get_data(as_text=True)
    national = login(w.national, c=app.test_client())
    assert report.reference in national.get("/violations").get_data(as_text=True)
    refused = national.post(f"/violations/{report.id}/qualification", data={"qualification": "qualifiee"})
    assert refused.status_code == 403


def test_follow_up_by_the_caisse_referent(w, login, app):
    _post(login(w.technicien), w.caisse)
    report = db.session.scalars(db.select(BreachReport)).one()
    tech = login(w.technicien, c=app.test_client())
    assert tech.post(f"/violations/{report.id}/qualification", data={"qualification": "qualifiee"}).status_code == 403

    admin = login(w.admin, c=app.test_client())
    page = admin.get(f"/violations/{report.id}").get_data(as_text=True)
    assert "Enregistrer la qualification" in page and "Notification à la CNIL" not in page
    early = admin.post(f"/violations/{report.id}/cnil", data={"notified": "oui", "reason": "x"})
    assert early.status_code == 422 and "Qualifiez d&#39;abord" in early.get_data(as_text=True)
    assert admin.post(f"/violations/{report.id}/qualification",
                      data={"qualification": "qualifiee", "comment": "Fuite avérée."}).status_code == 303
    missing = admin.post(f"/violations/{report.id}/cnil", data={"notified": "non", "reason": ""})
    assert missing.status_code == 422
    decided = admin.post(f"/violations/{report.id}/cnil",
                         data={"notified": "non", "reason": "Destinataire habilité, risque improbable."})
    assert decided.status_code == 303
    assert admin.post(f"/violations/{report.id}/cloture").status_code == 303
    page = admin.get(f"/violations/{report.id}").get_data(as_text=True)
    assert "CNIL non notifiée" in page and "Clos le" in page and "Destinataire habilité" in page
    actions = set(db.session.scalars(db.select(AuditEvent.action).where(AuditEvent.action.like("breach_%"))))
    assert actions == {"breach_reported", "breach_qualified", "breach_cnil_decided", "breach_closed"}


def test_the_dpo_mailbox_set_by_the_caisse_and_by_national(w, login, app, make):
    admin = login(w.admin)
    bad = admin.post("/caisse/dpo", data={"dpo_email": "pas une adresse"})
    assert bad.status_code == 422 and "Adresse e-mail invalide" in bad.get_data(as_text=True)
    assert admin.post("/caisse/dpo", data={"dpo_email": "DPO@Valmont.example"}).status_code == 303
    assert db.session.get(type(w.caisse), w.caisse.id).dpo_email == "dpo@valmont.example"
    assert login(w.technicien, c=app.test_client()).post("/caisse/dpo", data={"dpo_email": "x@y.example"}
                                                          ).status_code == 403
    national = make.admin_national()
    changed = update_caisse(national, w.other_caisse, caisse_data(name=w.other_caisse.name, code=w.other_caisse.code,
                                                                  dpo_email="dpo@autre.example"))
    assert "dpo_email" in changed and w.other_caisse.dpo_email == "dpo@autre.example"
    form = login(national, c=app.test_client()).get(f"/national/caisses/{w.other_caisse.id}/modifier")
    assert 'value="dpo@autre.example"' in form.get_data(as_text=True)
