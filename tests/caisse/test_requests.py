"""The caisse's queue of partner requests (SPEC §3: 5 working days)."""
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from ep_web.domain.requests import file_request
from ep_web.extensions import db
from ep_web.models import Account, AccountStatus, Profile, RequestKind, RequestStatus
from ep_web.transaction import commit
from tests.caisse.helpers import identity, text


def _file(w, kind=RequestKind.CREATION, **kw):
    if kind == RequestKind.CREATION and "data" not in kw:
        kw["data"] = identity(email=f"bruno.demande@{w.partenaire.domain_list[0]}")
    req = file_request(w.gestionnaire, w.caisse, kind, **kw)
    commit()
    return req


def _at(clock, day: date):
    clock.at = datetime(day.year, day.month, day.day, 8, 0, tzinfo=timezone.utc)


def test_deadline_skips_weekends_and_french_public_holidays(app, make, login, clock):
    w = make.world()
    _at(clock, date(2026, 5, 7))  # Thursday; 8 May (Fri) and 14 May (Ascension) are public holidays
    req = _file(w)
    # 11, 12, 13, 15, 18 May: five working days.
    assert req.deadline == date(2026, 5, 18)

    def queue_on(day):
        _at(clock, day)
        c = app.test_client()
        login(w.admin, c=c)
        return text(c.get("/caisse/demandes"))

    page = queue_on(date(2026, 5, 7))
    assert "Nouveau gestionnaire : Bruno Demande" in page and w.partenaire.name in page
    assert w.gestionnaire.full_name in page and "07/05/2026" in page and "18/05/2026" in page
    assert "En retard" not in page and "Aujourd'hui" not in page
    page = queue_on(date(2026, 5, 18))
    assert "18/05/2026 Aujourd'hui" in page and "En retard" not in page
    page = queue_on(date(2026, 5, 19))
    assert "18/05/2026 En retard" in page


def test_queue_shows_only_this_caisse_and_other_caisse_request_is_404(client, make, login):
    w = make.world()
    req = _file(w)
    other = file_request(w.other_gestionnaire, w.other_caisse, RequestKind.CREATION,
                         data=identity(nom="Ailleurs", email=f"x@{w.other_partenaire.domain_list[0]}"))
    commit()
    login(w.admin)
    page = text(client.get("/caisse/demandes"))
    assert "Bruno Demande" in page and "Ailleurs" not in page
    assert client.get(f"/caisse/demandes/{req.id}").status_code == 200
    assert client.get(f"/caisse/demandes/{other.id}").status_code == 404
    assert client.post(f"/caisse/demandes/{other.id}/refuser", data={"r-response": "non"}).status_code == 404
    assert client.post(f"/caisse/demandes/{other.id}/accepter", data={}).status_code == 404
    db.session.expire_all()
    assert other.status == RequestStatus.PENDING


def test_accept_creation_with_corrected_data_creates_the_gestionnaire(client, make, login, outbox):
    w = make.world()
    req = _file(w)
    login(w.admin)
    body = client.get(f"/caisse/demandes/{req.id}").get_data(as_text=True)
    email = f"bruno.demande@{w.partenaire.domain_list[0]}"
    assert 'value="Demande"' in body and f'value="{email}"' in body  # pre-filled from the request

    data = {f"g-{k}": v for k, v in identity(email=email, fonction="Directeur adjoint").items()}
    resp = client.post(f"/caisse/demandes/{req.id}/accepter", data=data)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/caisse/demandes")
    g = db.session.scalar(select(Account).where(Account.email == email))
    assert g.profile == Profile.GESTIONNAIRE and g.status == AccountStatus.PENDING
    assert g.fonction == "Directeur adjoint" and g.partenaire_id == w.partenaire.id
    assert [m.template for m in outbox(email)] == ["activation"]
    assert [m.template for m in outbox(w.gestionnaire.email)] == ["request_handled"]
    db.session.expire_all()
    assert req.status == RequestStatus.DONE
    page = text(client.get("/caisse/demandes"))
    assert "Aucune demande à traiter." in page and "Traitée" in page


def test_accept_creation_over_quota_keeps_the_form(client, make, login):
    w = make.world()
    req = _file(w)
    make.gestionnaire(w.partenaire)  # 3 / 3 now
    login(w.admin)
    email = f"bruno.demande@{w.partenaire.domain_list[0]}"
    data = {f"g-{k}": v for k, v in identity(email=email, prenom="Brunette").items()}
    resp = client.post(f"/caisse/demandes/{req.id}/accepter", data=data)
    assert resp.status_code == 422
    assert "Quota atteint : 3 / 3 gestionnaires" in text(resp)
    assert 'value="Brunette"' in resp.get_data(as_text=True)
    db.session.expire_all()
    assert req.status == RequestStatus.PENDING
    assert db.session.scalar(select(Account).where(Account.email == email)) is None


def test_refuse_needs_a_reason(client, make, login, outbox):
    w = make.world()
    req = _file(w)
    login(w.admin)
    resp = client.post(f"/caisse/demandes/{req.id}/refuser", data={"r-response": "  "})
    assert resp.status_code == 422
    assert 'id="r-response-error"' in resp.get_data(as_text=True)
    assert "Indiquez au partenaire le motif du refus." in text(resp)
    db.session.expire_all()
    assert req.status == RequestStatus.PENDING

    resp = client.post(f"/caisse/demandes/{req.id}/refuser",
                       data={"r-response": "Quota de la structure atteint", "confirmed": "1"})
    assert resp.status_code == 303
    db.session.expire_all()
    assert req.status == RequestStatus.REFUSED and req.response == "Quota de la structure atteint"
    assert [m.template for m in outbox(w.gestionnaire.email)] == ["request_handled"]
    page = text(client.get(f"/caisse/demandes/{req.id}"))
    assert "Refusée le" in page and "Quota de la structure atteint" in page
    # Already handled: a second answer is refused.
    resp = client.post(f"/caisse/demandes/{req.id}/refuser", data={"r-response": "encore", "confirmed": "1"})
    assert resp.status_code == 422 and "Cette demande a déjà été traitée." in text(resp)


def test_accept_modification_and_inactivation(client, make, login, clock):
    w = make.world()
    domain = w.partenaire.domain_list[0]
    mod = _file(w, RequestKind.MODIFICATION, target_id=w.gestionnaire2.id,
                data=identity(nom="Changé", email=f"change@{domain}"))
    leave = _file(w, RequestKind.INACTIVATION, target_id=w.gestionnaire2.id,
                  wished_date=date(2026, 3, 2) + timedelta(days=20))
    login(w.admin)

    page = text(client.get(f"/caisse/demandes/{mod.id}"))
    assert "Changements demandés" in page and w.gestionnaire2.nom in page and "Changé" in page
    data = {f"g-{k}": v for k, v in identity(nom="Changé", email=f"change@{domain}").items()}
    assert client.post(f"/caisse/demandes/{mod.id}/accepter", data=data).status_code == 303
    db.session.expire_all()
    assert (w.gestionnaire2.nom, w.gestionnaire2.email) == ("Changé", f"change@{domain}")

    assert "22/03/2026" in text(client.get(f"/caisse/demandes/{leave.id}"))
    assert client.post(f"/caisse/demandes/{leave.id}/accepter").status_code == 303
    db.session.expire_all()
    assert w.gestionnaire2.scheduled_inactivation_on == date(2026, 3, 22)
    assert leave.status == RequestStatus.DONE
