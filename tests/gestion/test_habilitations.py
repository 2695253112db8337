"""The habilitation table, its CSV / XLSX exports and the review campaign
(SPEC §3 [4.2], §7 audit of exports)."""
import csv
import html as html_lib
import io
import re
from datetime import datetime, timedelta

import openpyxl
import pytest
from sqlalchemy import select

from ep_web.clock import today
from ep_web.domain.habilitations import HEADERS
from ep_web.domain.reviews import open_review
from ep_web.extensions import db
from ep_web.models import Account, AccountStatus, AuditEvent, HabilitationReview, ReviewDecision, ReviewItem
from ep_web.transaction import commit
from tests.gestion.conftest import HTMX


def body(resp) -> str:
    return html_lib.unescape(resp.get_data(as_text=True))


def partner_logins(partenaire) -> set[str]:
    return set(db.session.scalars(select(Account.login).where(Account.partenaire_id == partenaire.id,
                                                              Account.status != AccountStatus.DELETED)))


@pytest.fixture
def world(make):
    w = make.world()
    w.inactive = make.technicien(w.partenaire, status=AccountStatus.INACTIVE, nom="Zeller",
                                 inactivation_reason="Départ", inactivated_at=make.clock.now())
    w.deleted = make.technicien(w.partenaire, status=AccountStatus.DELETED, nom="", prenom="", email="")
    return w


def test_the_table_lists_every_account_of_the_partner_only(client, world, login):
    w = world
    login(w.gestionnaire)
    resp = client.get("/gestion/habilitations")
    assert resp.status_code == 200
    html = body(resp)
    shown = set(re.findall(r'<tr id="habilitation-(\d+)"', html))
    assert shown == {str(a.id) for a in (w.gestionnaire, w.gestionnaire2, w.technicien, w.inactive)}
    assert w.other_technicien.login not in html and w.deleted.login not in html
    assert 'href="/gestion/habilitations.csv"' in html and 'href="/gestion/habilitations.xlsx"' in html
    assert "Revue des habilitations en cours" not in html


def test_csv_export_parses_back(client, world, login):
    w = world
    login(w.gestionnaire)
    resp = client.get("/gestion/habilitations.csv")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert re.search(r'filename="habilitations-structure-\d+-2026-03-02\.csv"', disposition)
    raw = resp.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM French Excel needs
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == HEADERS
    by_login = {r[0]: r for r in rows[1:]}
    assert set(by_login) == partner_logins(w.partenaire) - {w.deleted.login}
    assert w.other_technicien.login not in raw.decode("utf-8-sig")
    inactive = by_login[w.inactive.login]
    assert inactive[HEADERS.index("Statut")] == "Inactif"
    assert inactive[HEADERS.index("Motif d'inactivation")] == "Départ"
    assert inactive[HEADERS.index("Inactivé le")] == "02/03/2026 10:00"  # Paris time
    tech = by_login[w.technicien.login]
    assert tech[HEADERS.index("Gestionnaire de rattachement")] == w.gestionnaire.full_name
    assert tech[HEADERS.index("Profil")] == "Technicien"
    # Gestionnaires first.
    assert [r[HEADERS.index("Profil")] for r in rows[1:3]] == ["Gestionnaire", "Gestionnaire"]

    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export"))
    assert event.actor_id == w.gestionnaire.id and event.partenaire_id == w.partenaire.id
    assert event.details == {"what": "habilitations", "format": "csv", "rows": 4}


def test_xlsx_export_parses_back(client, world, login):
    w = world
    login(w.gestionnaire)
    resp = client.get("/gestion/habilitations.xlsx")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert re.search(r'attachment; filename="habilitations-structure-\d+-2026-03-02\.xlsx"',
                     resp.headers["Content-Disposition"])
    wb = openpyxl.load_workbook(io.BytesIO(resp.get_data()))
    ws = wb.active
    assert ws.title == "Habilitations"
    values = list(ws.iter_rows(values_only=True))
    assert list(values[0]) == HEADERS
    assert all(ws.cell(row=1, column=c).font.bold for c in range(1, len(HEADERS) + 1))
    assert ws.freeze_panes == "A2"
    assert all((ws.column_dimensions[chr(64 + c)].width or 0) >= 8 for c in range(1, len(HEADERS) + 1))
    assert ws.column_dimensions["G"].width > len(HEADERS[6])  # e-mail column sized to its content
    by_login = {r[0]: r for r in values[1:]}
    assert set(by_login) == partner_logins(w.partenaire) - {w.deleted.login}
    assert w.other_technicien.login not in by_login
    inactivated = by_login[w.inactive.login][HEADERS.index("Inactivé le")]
    assert inactivated == datetime(2026, 3, 2, 10, 0)  # a real date, Paris wall-clock time
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export"))
    assert event.details["format"] == "xlsx"


def test_exports_are_for_gestionnaires(client, world, login):
    login(world.technicien)
    for url in ("/gestion/habilitations.csv", "/gestion/habilitations.xlsx"):
        assert client.get(url).status_code == 403
    assert client.get("/gestion/habilitations.pdf").status_code in (403, 404)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export")) is None


# ---------------------------------------------------------------- review campaign

@pytest.fixture
def review(world):
    r = open_review(world.admin, world.partenaire, today() + timedelta(days=30))
    commit()
    return r


def item_for(review, account) -> ReviewItem:
    return db.session.scalar(select(ReviewItem).where(ReviewItem.review_id == review.id,
                                                      ReviewItem.account_id == account.id))


def test_the_open_review_is_shown_with_its_deadline(client, world, review, login):
    login(world.gestionnaire)
    html = body(client.get("/gestion/habilitations"))
    assert "Revue des habilitations en cours" in html
    assert f"avant le {review.deadline.strftime('%d/%m/%Y')}" in html
    assert world.caisse.name in html
    assert "3 comptes à revoir sur 3." in " ".join(re.sub(r"<[^>]+>", "", html).split())
    t_item = item_for(review, world.technicien)
    row = html.split(f'<tr id="revue-{t_item.id}">')[1].split("</tr>")[0]
    assert "Confirmer" in row and "Inactiver le compte" in row
    g_item = item_for(review, world.gestionnaire2)
    g_row = html.split(f'<tr id="revue-{g_item.id}">')[1].split("</tr>")[0]
    assert "Inactiver le compte" not in g_row and "demande d'inactivation à la caisse" in g_row


def test_confirm_and_inactivate_through_htmx(client, world, review, login):
    w = world
    login(w.gestionnaire)
    t_item = item_for(review, w.technicien)
    resp = client.post(f"/gestion/habilitations/revue/{t_item.id}", data={"decision": "inactivated",
                                                                          "reason": "A quitté la structure"},
                       headers=HTMX)
    assert resp.status_code == 200
    html = body(resp)
    assert html.lstrip().startswith(f'<tr id="revue-{t_item.id}">')
    assert "Inactivé le 02/03/2026" in html
    # The habilitation table row, out of band (in a <template>: a bare <tr> would be dropped by the parser).
    assert re.search(rf'<template>\s*<tr id="habilitation-{w.technicien.id}" hx-swap-oob="true">', html)
    assert re.search(r'<p id="review-status"[^>]*hx-swap-oob="innerHTML"', html)
    assert "2 comptes à revoir" in html
    db.session.expire_all()
    assert db.session.get(Account, w.technicien.id).status == AccountStatus.INACTIVE
    assert db.session.get(Account, w.technicien.id).inactivation_reason == "A quitté la structure"

    for account in (w.gestionnaire, w.gestionnaire2):
        item = item_for(review, account)
        resp = client.post(f"/gestion/habilitations/revue/{item.id}", data={"decision": "confirmed"}, headers=HTMX)
        assert resp.status_code == 200
        assert "Confirmé le 02/03/2026" in body(resp)
    assert "La revue des habilitations est terminée" in body(resp)
    assert "Revue terminée" in body(resp)
    db.session.expire_all()
    assert db.session.get(HabilitationReview, review.id).completed_at is not None
    assert "Revue des habilitations en cours" not in body(client.get("/gestion/habilitations"))


def test_review_answer_without_javascript(client, world, review, login):
    login(world.gestionnaire)
    item = item_for(review, world.technicien)
    resp = client.post(f"/gestion/habilitations/revue/{item.id}", data={"decision": "confirmed"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/gestion/habilitations")
    db.session.expire_all()
    assert db.session.get(ReviewItem, item.id).decision == ReviewDecision.CONFIRMED
    # Answered twice: refused, in the row.
    resp = client.post(f"/gestion/habilitations/revue/{item.id}", data={"decision": "confirmed"})
    assert resp.status_code == 422
    assert "<html" in body(resp)


def test_a_gestionnaire_cannot_be_inactivated_by_the_review(client, world, review, login):
    login(world.gestionnaire)
    item = item_for(review, world.gestionnaire2)
    resp = client.post(f"/gestion/habilitations/revue/{item.id}", data={"decision": "inactivated"}, headers=HTMX)
    assert resp.status_code == 422
    html = body(resp)
    assert html.lstrip().startswith(f'<tr id="revue-{item.id}">')
    assert "Un gestionnaire est inactivé par la caisse : déposez une demande d'inactivation." in html
    db.session.expire_all()
    assert db.session.get(Account, world.gestionnaire2.id).status == AccountStatus.ACTIVE
    assert db.session.get(ReviewItem, item.id).decision is None


def test_another_partners_review_item_is_a_404(client, world, login, make):
    w = world
    other_review = open_review(w.other_admin, w.other_partenaire, today() + timedelta(days=30))
    commit()
    item = item_for(other_review, w.other_technicien)
    login(w.gestionnaire)
    for headers in ({}, HTMX):
        resp = client.post(f"/gestion/habilitations/revue/{item.id}", data={"decision": "inactivated"}, headers=headers)
        assert resp.status_code == 404
    db.session.expire_all()
    assert db.session.get(Account, w.other_technicien.id).status == AccountStatus.ACTIVE
    assert client.post("/gestion/habilitations/revue/999999", data={"decision": "confirmed"}).status_code == 404
