"""SPEC §8: no input a browser can send gives a server error — the guards that
make it hold at one place (ep_web.inputs, ep_web.forms, ep_web.domain.names)."""
from datetime import date, datetime

import pytest
from sqlalchemy import select

from ep_web.domain.errors import DomainError
from ep_web.domain.names import check_person_name
from ep_web.extensions import db
from ep_web.inputs import MAX_ID, coerce_id, parse_date, parse_datetime, strip_controls
from ep_web.models import ConventionState, GestionnaireRequest, MaintenanceWindow, Ticket
from tests.caisse.helpers import partenaire_form, text

HUGE = str(2**64 + 7)


# ---------------------------------------------------------------- ids

@pytest.mark.parametrize("raw", [HUGE, str(2**63), str(MAX_ID + 1), "-1", "0", "1e3", "٣", "", None, "abc"])
def test_a_posted_id_outside_the_database_range_is_not_chosen(raw):
    assert coerce_id(raw) is None


def test_a_posted_id_inside_the_range_is_read():
    assert (coerce_id("42"), coerce_id(str(MAX_ID)), coerce_id(7)) == (42, MAX_ID, 7)


@pytest.mark.parametrize("raw_id", [HUGE, str(2**63), str(MAX_ID + 1), "9" * 400])
def test_an_id_in_a_url_beyond_the_database_range_is_a_404(client, make, login, raw_id):
    w = make.world()
    login(w.technicien)
    assert client.get(f"/demandes/{raw_id}").status_code == 404
    login(w.admin)
    assert client.get(f"/caisse/partenaires/{raw_id}").status_code == 404
    assert client.post(f"/caisse/partenaires/{raw_id}/conventions/{raw_id}/fin", data={}).status_code == 404


def test_the_int_converter_bounds_every_route(app):
    """Every <int:…> of every route goes through the bounded converter."""
    from ep_web.inputs import IdConverter

    converters = [c for rule in app.url_map.iter_rules() for c in rule._converters.values()]
    ints = [c for c in converters if "\\d" in c.regex]
    assert ints and all(isinstance(c, IdConverter) and c.max == MAX_ID for c in ints)


def test_a_huge_posted_caisse_or_target_id_gets_a_message(client, make, login):
    w = make.world()
    login(w.gestionnaire)
    resp = client.post("/gestion/demandes/inactivation", data={
        "inactivation-caisse_id": HUGE, "inactivation-target_id": HUGE, "inactivation-wished_date": "01/12/2026"})
    assert resp.status_code == 422 and "Choisissez" in text(resp)
    resp = client.post("/gestion/demandes/modification", data={
        "modification-caisse_id": str(w.caisse.id), "modification-target_id": HUGE, "modification-civilite": "Mme",
        "modification-nom": "Exemple", "modification-prenom": "Camille", "modification-telephone": "01 23 45 67 89",
        "modification-email": f"camille@{w.partenaire.domain_list[0]}"})
    assert resp.status_code == 422 and "Choisissez un gestionnaire actif de votre structure." in text(resp)
    assert db.session.scalar(select(GestionnaireRequest.id)) is None
    login(w.technicien)
    resp = client.post("/tickets/nouveau", data={"caisse_id": HUGE, "subject": "Souci", "area": "autre",
                                                 "description": "La page ne répond pas"})
    assert resp.status_code == 422


# ---------------------------------------------------------------- control characters

def test_control_characters_never_reach_the_database(client, make, login):
    w = make.world()
    login(w.technicien)
    resp = client.post("/tickets/nouveau", data={
        "caisse_id": str(w.caisse.id), "subject": "Page\x00 blanche\x1b", "area": "autre",
        "description": "Ligne une\r\nLigne\x00 deux\tfin\x7f"})
    assert resp.status_code == 303
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.subject == "Page blanche"
    assert "\x00" not in ticket.description and "Ligne une\r\nLigne deux\tfin" in ticket.description
    # The history search too (a GET).
    assert client.get("/demandes?q=Mar\x00tin").status_code == 200


def test_strip_controls_keeps_what_people_type():
    assert strip_controls("Élodie\u00a0L'Hôte\t\r\n€\x00\x85\x9f") == "Élodie\u00a0L'Hôte\t\r\n€"


# ---------------------------------------------------------------- dates

@pytest.mark.parametrize("raw, expected", [
    ("2026-03-02", date(2026, 3, 2)), ("02/03/2026", date(2026, 3, 2)), (" 02 / 03 / 2026 ", date(2026, 3, 2)),
    ("2/3/2026", date(2026, 3, 2)), ("02.03.2026", date(2026, 3, 2)), ("02-03-2026", date(2026, 3, 2)),
    ("02 03 2026", date(2026, 3, 2)), ("02032026", date(2026, 3, 2)), ("2026 - 03 - 02", date(2026, 3, 2)),
    ("02\u00a0/\u202f03/2026", date(2026, 3, 2)),
])
def test_dates_are_read_as_people_type_them(raw, expected):
    assert parse_date(raw) == expected


@pytest.mark.parametrize("raw", ["31/02/2026", "01/01/0001", "31/12/9999", "2026-13-01", "hier", "1/1/26 x",
                                 "0" * 300, "١٢/٠٣/٢٠٢٦", ""])
def test_unreadable_or_absurd_dates_are_refused(raw):
    assert parse_date(raw) is None


@pytest.mark.parametrize("raw", ["2026-05-15T20:00", "2026-05-15 20:00", "15/05/2026 20:00", "15/05/2026 à 20h00",
                                 "15/05/2026 à 20 h 00", " 15 / 05 / 2026   20 : 00 ", "2026-05-15T20:00:00"])
def test_datetimes_are_read_as_people_type_them(raw):
    assert parse_datetime(raw) == datetime(2026, 5, 15, 20, 0)


@pytest.mark.parametrize("raw", ["2026-05-15T25:00", "0001-01-01T00:00", "9999-12-31T23:59", "15/05/2026", "20:00"])
def test_unreadable_datetimes_are_refused(raw):
    assert parse_datetime(raw) is None


@pytest.mark.parametrize("signed_on", ["31/12/9999", "01/01/0001", "0001-01-01", "2026-03-02 x"])
def test_an_absurd_signature_date_gets_a_message(client, make, login, signed_on):
    caisse = make.caisse()
    login(make.admin_caisse(caisse))
    resp = client.post("/caisse/partenaires/nouveau", data=partenaire_form(signed_on=signed_on))
    assert resp.status_code == 422 and "Date invalide" in text(resp)
    assert f'value="{signed_on}"' in resp.get_data(as_text=True)  # what was typed comes back


def test_a_signature_date_with_spaces_is_read(client, make, login):
    caisse = make.caisse()
    login(make.admin_caisse(caisse))
    resp = client.post("/caisse/partenaires/nouveau", data=partenaire_form(signed_on=" 02 / 03 / 2026 "))
    assert resp.status_code == 303


@pytest.mark.parametrize("starts_at", ["0001-01-01T00:00", "9999-12-31T23:59", "2026-05-15T 25 h", "demain"])
def test_an_absurd_maintenance_start_gets_a_message(client, make, login, starts_at):
    login(make.admin_national())
    resp = client.post("/national/maintenance", data={"starts_at": starts_at, "ends_at": "2026-05-15T22:00"})
    assert resp.status_code == 422 and "Date et heure invalides" in text(resp)
    assert db.session.scalar(select(MaintenanceWindow.id)) is None


# ---------------------------------------------------------------- the end of a convention

@pytest.mark.parametrize("mode", [None, "", "autre"])
def test_ending_a_convention_needs_an_explicit_type(client, make, login, mode):
    w = make.world()
    conv = w.partenaire.conventions[0]
    login(w.admin)
    url = f"/caisse/partenaires/{w.partenaire.id}/conventions/{conv.id}/fin"
    assert 'checked' not in client.get(url).get_data(as_text=True).split('name="mode"')[1][:200]
    data = {"reason": "Fin du partenariat"} | ({} if mode is None else {"mode": mode})
    resp = client.post(url, data=data)
    assert resp.status_code == 422 and "Choisissez le type de fin" in text(resp)
    db.session.expire_all()
    assert conv.state == ConventionState.ACTIVE


# ---------------------------------------------------------------- person names

@pytest.mark.parametrize("name", ["Zoé", "Anne-Laure", "N'Diaye", "D’Artagnan", "Le Gall", "Ngô Thị", "Müller",
                                  "Ève Marie-Ange"])
def test_person_names_accept_letters_spaces_hyphens_apostrophes(name):
    assert check_person_name(name, "nom") == name


@pytest.mark.parametrize("name", ["Jean2", "Dupont!", "<b>X</b>", "Marie_Claire", "=SOMME(A1)", "---", "Paul.",
                                  "😀", "M. Dupont"])
def test_person_names_refuse_anything_else(name):
    with pytest.raises(DomainError) as exc:
        check_person_name(name, "prenom")
    assert exc.value.field == "prenom" and "lettres" in exc.value.message


def test_every_form_that_asks_a_name_applies_the_rule(app, client, make, login):
    """Account identity (gestionnaire's technicien form) and the référent of a partner."""
    w = make.world()
    login(w.gestionnaire)
    resp = client.post("/gestion/techniciens", data={
        "civilite": "Mme", "nom": "Dupont3", "prenom": "Camille",
        "email": f"camille@{w.partenaire.domain_list[0]}"})
    assert resp.status_code == 422 and "Seuls les lettres" in text(resp)
    admin = login(w.admin, c=app.test_client())
    resp = admin.post("/caisse/partenaires/nouveau", data=partenaire_form(referent_name="Camille (référente)"))
    assert resp.status_code == 422 and "Seuls les lettres" in text(resp)
