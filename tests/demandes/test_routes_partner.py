"""The technicien's demandes through the client (SPEC §4, §3 end of convention,
§8): the six services, the rules coming back next to their field with
everything typed kept, the live NIR guard, the demande page, its files and its
thread, and isolation (another structure, another caisse → 404)."""
import html as html_lib
import io
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from ep_web.domain import demandes as dm
from ep_web.domain.conventions import terminate
from ep_web.extensions import db
from ep_web.models import AuditEvent, Demande, DemandeStatus, Service
from ep_web.transaction import commit

HTMX = {"HX-Request": "true"}
SERVICES = [s.value for s in Service]
# A NIR written with spaces and a key (1 80 05 74 123 456, key computed): it must never get in.
NIR = "1 80 05 74 123 456 " + f"{97 - int('1800574123456') % 97:02d}"
NIR_MASKED = "1 80 •• •• ••• ••• ••"

IDENTITY = {"civilite": "Mme", "nom": "Martin", "prenom": "Léa", "date_naissance": "1980-05-17",
            "departement": "74"}
SERVICE_DATA = {
    "contact": {"subject": "Changement d'adresse", "message": "La personne a déménagé le mois dernier."},
    "etude_dossier": {"kind": "css", "message": "Étude des droits à la complémentaire santé solidaire."},
    "suivi_ame": {"filed_on": "2026-01-15", "message": "Dossier déposé à l'accueil en janvier."},
    "signalement": {"difficulty_kinds": ["droits", "renoncement"], "message": "Droits fermés depuis un mois.",
                    "consent": "y", "urgent": "y", "urgency_reason": "droits_bloques",
                    "urgency_detail": "Plus aucune prise en charge possible."},
    "rendez_vous": {"reason": "Ouverture de droits", "slots": "Mardi matin", "channel": "telephone",
                    "message": "Joignable après 10 heures."},
    "document": {"document_kind": "autre", "document_other": "Relevé de prestations 2025", "message": ""},
}
# Every text the partner types, per service (identity + free texts of the domain).
TYPED = {s: ("nom", "prenom") + dm.FREE_TEXT_FIELDS[s] for s in SERVICES}


def body(resp) -> str:
    return html_lib.unescape(resp.get_data(as_text=True))


def field_messages(resp, field: str) -> str:
    """The messages region next to a field (where the refusal must appear)."""
    match = re.search(rf'<div class="fr-messages-group" id="{field}-messages" aria-live="polite">(.*?)</div>',
                      body(resp), re.S)
    assert match, f"no messages region for {field}"
    return match.group(1)


def form_data(service: str, caisse, **over) -> dict:
    data = {"caisse_id": str(caisse.id), **IDENTITY, **SERVICE_DATA[service]}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def demandes() -> list[Demande]:
    return db.session.scalars(select(Demande).order_by(Demande.id)).all()


@pytest.fixture(autouse=True)
def _uploads(app, tmp_path):
    """Files go to a folder of the test, never to the repository's instance/."""
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    app.config["CLAMD_SOCKET"] = app.config["CLAMD_ADDRESS"] = ""


def create(client, service, caisse, files=None, **over):
    data = form_data(service, caisse, **over)
    if files:
        data["files"] = files
    return client.post(f"/demandes/nouvelle/{service}", data=data, content_type="multipart/form-data")


def make_demande(author, caisse, service="contact", **over):
    """A demande created through the domain (for pages that show one)."""
    details = {"contact": {"subject": "Carte Vitale", "message": "La carte n'arrive pas."}}.get(service, {})
    data = dict(service=service, caisse_id=caisse.id, civilite="M.", nom="Petit", prenom="Jean",
                date_naissance=date(1975, 3, 4), departement=caisse.departement_list[0], details=details)
    data.update(over)
    d = dm.create_demande(author, dm.DemandeInput(**data))
    commit()
    return d


# ---------------------------------------------------------------- choosing the caisse and the service

def test_chooser_proposes_the_caisse_of_the_departement_and_its_services(client, login, w):
    login(w.technicien)
    resp = client.get("/demandes/nouvelle?departement=73")
    assert resp.status_code == 200
    text = body(resp)
    assert "Services ouverts par la CPAM de Savoie fictive" in text
    assert "Caisse proposée d'après le département de la personne (73)" in text
    # The 73 convention enables contact only.
    assert f"/demandes/nouvelle/contact?caisse_id={w.caisse73.id}&amp;departement=73" in resp.get_data(as_text=True)
    assert "/demandes/nouvelle/signalement" not in text
    resp = client.get("/demandes/nouvelle?departement=74")
    assert "/demandes/nouvelle/signalement" in body(resp)
    # A département no caisse covers: the technicien chooses.
    resp = client.get("/demandes/nouvelle?departement=33", headers=HTMX)
    assert "Aucune des caisses en convention avec votre structure ne couvre le département 33" in body(resp)
    assert "<h1" not in body(resp)  # the services region only
    # An explicit choice wins over the département.
    resp = client.get(f"/demandes/nouvelle?departement=74&caisse_id={w.caisse73.id}")
    assert "Services ouverts par la CPAM de Savoie fictive" in body(resp)


def test_home_links_each_enabled_service_to_its_form(client, login, w):
    login(w.technicien)
    text = body(client.get("/"))
    for s in SERVICES:
        assert f"/demandes/nouvelle/{s}?caisse_id={w.caisse.id}" in text
    assert f"/demandes/nouvelle/contact?caisse_id={w.caisse73.id}" in text
    assert f"/demandes/nouvelle/signalement?caisse_id={w.caisse73.id}" not in text


@pytest.mark.parametrize("service", SERVICES)
def test_each_form_has_the_identity_block_and_no_nir_field(client, login, w, service):
    login(w.technicien)
    resp = client.get(f"/demandes/nouvelle/{service}?caisse_id={w.caisse.id}&departement=74")
    assert resp.status_code == 200
    text = body(resp)
    for name in ("civilite", "nom", "prenom", "date_naissance", "departement", "files"):
        assert f'name="{name}"' in text
    assert re.search(rf'<option selected value="{w.caisse.id}">|<option value="{w.caisse.id}" selected', text)
    assert not re.search(r'name="[^"]*(nir|secu|securite)[^"]*"', text, re.I)
    assert 'accept=".pdf,.jpg,.jpeg,.png' in text and "multiple" in text
    # Every typed text carries the live guard, with its own aria-live region.
    for name in TYPED[service]:
        tag = re.search(rf'<(?:input|textarea)[^>]*name="{name}"[^>]*>', text).group(0)
        assert 'hx-post="/demandes/verification"' in tag and f'hx-target="#{name}-messages"' in tag, tag
        assert "input changed delay:400ms" in tag and f'aria-describedby="{name}-messages"' in tag
    assert 'style="' not in text and "<script>" not in text


def test_unknown_service_is_404_and_a_service_no_caisse_enables_is_refused(client, login, make):
    caisse = make.caisse(departements="74")
    p = make.partenaire(caisse, services=[Service.CONTACT])
    tech = make.technicien(p)
    login(tech)
    assert client.get("/demandes/nouvelle/inconnu").status_code == 404
    resp = client.get("/demandes/nouvelle/signalement")
    assert resp.status_code == 403
    assert "Ce service n'est ouvert à votre structure par aucune" in body(resp)


# ---------------------------------------------------------------- creating

@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_created_and_shown(client, login, w, outbox, service):
    login(w.technicien)
    resp = create(client, service, w.caisse)
    assert resp.status_code == 303, body(resp)[:3000]
    (d,) = demandes()
    assert resp.headers["Location"].endswith(f"/demandes/{d.id}")
    assert d.service == service and d.caisse_id == w.caisse.id and d.author_id == w.technicien.id
    assert (d.nom, d.prenom, d.date_naissance, d.departement) == ("Martin", "Léa", date(1980, 5, 17), "74")
    page = client.get(f"/demandes/{d.id}")
    assert page.status_code == 200
    text = body(page)
    assert d.reference in text and "Martin Léa" in text and "Demande transmise" in text
    assert f"Votre demande {d.reference} est transmise" in text  # the flash after the redirect
    if service == "signalement":
        assert d.urgent and d.consent and d.details["difficulty_kinds"] == ["droits", "renoncement"]
        assert "Urgent" in text and "Droits bloqués" in text and "Contact avant le" in text
    if service == "document":
        assert "Relevé de prestations 2025" in text


def test_service_not_enabled_by_the_chosen_caisse_is_refused(client, login, w):
    login(w.technicien)
    resp = create(client, "signalement", w.caisse73)  # the 73 convention enables contact only
    assert resp.status_code == 422
    assert "Ce service n'est pas ouvert à votre structure par cette caisse." in body(resp)
    assert demandes() == []
    # A caisse without any convention with the structure.
    resp = create(client, "contact", w.caisse, caisse_id="999999")
    assert resp.status_code == 422 and "pas de convention en cours avec cette caisse" in body(resp)


def test_signalement_requires_consent_and_keeps_the_rest(client, login, w):
    login(w.technicien)
    data = form_data("signalement", w.caisse)
    del data["consent"]
    resp = client.post("/demandes/nouvelle/signalement", data=data)
    assert resp.status_code == 422
    text = body(resp)
    assert "La personne doit avoir accepté d'être contactée par la caisse" in text
    assert 'value="Martin"' in text and "Droits fermés depuis un mois." in text
    assert re.search(r'<input[^>]*checked[^>]*value="droits"|<input[^>]*value="droits"[^>]*checked', text)
    assert re.search(r'<input[^>]*id="urgent"[^>]*checked|<input[^>]*checked[^>]*id="urgent"', text)
    assert demandes() == []


def test_duplicate_warning_then_confirmed(client, login, w):
    login(w.technicien)
    assert create(client, "contact", w.caisse).status_code == 303
    (first,) = demandes()
    # Same person (accents and case aside), same service, same caisse, still open.
    resp = create(client, "contact", w.caisse, nom="MARTIN", prenom="Lea")
    assert resp.status_code == 422
    text = body(resp)
    assert "Une demande du même type est déjà en cours pour cette personne" in text
    assert f'href="/demandes/{first.id}"' in resp.get_data(as_text=True) and first.reference in text
    assert "Je confirme qu'il ne s'agit pas d'un doublon" in text
    assert 'value="MARTIN"' in text
    assert len(demandes()) == 1
    resp = create(client, "contact", w.caisse, nom="MARTIN", prenom="Lea", duplicate_confirmed="y")
    assert resp.status_code == 303
    assert len(demandes()) == 2 and demandes()[1].duplicate_confirmed


def test_another_structures_demande_is_never_revealed_as_a_duplicate(client, login, w):
    """SPEC §8 over the duplicate rule: the warning covers the structure's own demandes only."""
    make_demande(w.other_technicien, w.caisse, nom="Martin", prenom="Léa", date_naissance=date(1980, 5, 17))
    (theirs,) = demandes()
    login(w.technicien)
    resp = create(client, "contact", w.caisse)
    assert resp.status_code == 303
    assert theirs.reference not in client.get(resp.headers["Location"]).get_data(as_text=True)


def test_health_warning_highlights_then_confirmed(client, login, w):
    login(w.technicien)
    resp = create(client, "signalement", w.caisse, message="Suivi pour un diabète, droits fermés.")
    assert resp.status_code == 422
    text = resp.get_data(as_text=True)
    assert "<mark>diabète</mark>" in text
    assert "Je confirme que ce texte ne contient pas de données de santé" in body(resp)
    assert "Suivi pour un diabète, droits fermés." in body(resp)  # the textarea keeps it
    assert demandes() == []
    resp = create(client, "signalement", w.caisse, message="Suivi pour un diabète, droits fermés.",
                  health_confirmed="y")
    assert resp.status_code == 303
    assert demandes()[0].health_confirmed


def _values_kept(text: str, data: dict, skip: str) -> None:
    for key, value in data.items():
        if key == skip or not isinstance(value, str) or key in ("caisse_id", "consent", "urgent", "civilite"):
            continue
        if key in ("date_naissance", "filed_on", "kind", "urgency_reason", "channel", "document_kind"):
            assert f'value="{value}"' in text, (key, value)
        else:
            assert html_lib.escape(value, quote=True) in text or value in html_lib.unescape(text), (key, value)


@pytest.mark.parametrize("service,field", [(s, f) for s in SERVICES for f in TYPED[s]])
def test_a_nir_in_any_typed_field_is_refused_next_to_it_and_everything_is_kept(client, login, w, service, field):
    login(w.technicien)
    data = form_data(service, w.caisse)
    data[field] = f"{data.get(field) or 'Texte'} {NIR}" if field not in ("nom", "prenom") else NIR
    resp = client.post(f"/demandes/nouvelle/{service}", data=data)
    assert resp.status_code == 422
    messages = html_lib.unescape(field_messages(resp, field))
    assert "numéro de sécurité sociale (NIR)" in messages and NIR_MASKED in messages
    assert "document joint" in messages
    assert "74 123 456" not in messages  # masked, never echoed in the message
    text = resp.get_data(as_text=True)
    assert re.search(rf'<(?:input|textarea)[^>]*aria-invalid="true"[^>]*name="{field}"|'
                     rf'<(?:input|textarea)[^>]*name="{field}"[^>]*aria-invalid="true"', text)
    _values_kept(text, data, skip="")  # the offending text too: the author fixes it in place
    if service == "signalement":
        assert re.search(r'<input[^>]*checked[^>]*id="consent"|<input[^>]*id="consent"[^>]*checked', text)
        assert re.search(r'<input[^>]*checked[^>]*value="renoncement"|<input[^>]*value="renoncement"[^>]*checked',
                         text)
    assert demandes() == []


def test_every_nir_of_the_form_is_shown_at_once(client, login, w):
    login(w.technicien)
    resp = create(client, "contact", w.caisse, nom=NIR, message=f"Voir {NIR}")
    assert resp.status_code == 422
    assert NIR_MASKED in html_lib.unescape(field_messages(resp, "nom"))
    assert NIR_MASKED in html_lib.unescape(field_messages(resp, "message"))


def test_shapes_refused_with_french_messages_and_kept(client, login, w):
    login(w.technicien)
    resp = create(client, "suivi_ame", w.caisse, date_naissance="31/02/1980", filed_on="demain")
    assert resp.status_code == 422
    text = body(resp)
    assert "Date de naissance invalide" in text and "Date de dépôt invalide" in text
    assert 'value="31/02/1980"' in text and 'value="demain"' in text
    resp = create(client, "contact", w.caisse, civilite=None, departement="20")
    assert resp.status_code == 422 and "Choisissez la civilité de la personne." in body(resp)


# ---------------------------------------------------------------- the live guard

def test_live_guard_answers_for_one_field(client, login, w):
    login(w.technicien)
    resp = client.post("/demandes/verification", data={"field": "nom", "nom": f"Martin {NIR}"}, headers=HTMX)
    assert resp.status_code == 200
    text = body(resp)
    assert NIR_MASKED in text and "document joint" in text and "<html" not in text
    resp = client.post("/demandes/verification", data={"field": "message", "message": "Un cancer et une dialyse"},
                       headers=HTMX)
    text = resp.get_data(as_text=True)
    assert "<mark>cancer</mark>" in text and "<mark>dialyse</mark>" in text
    assert "« cancer », « dialyse »" in body(resp)
    # Names are not free texts: no health warning there; clean texts: nothing to say.
    assert "mark" not in body(client.post("/demandes/verification", data={"field": "nom", "nom": "Cancer"}))
    clean = client.post("/demandes/verification", data={"field": "message", "message": "Tél. 06 12 34 56 78"})
    assert body(clean).strip() == ""
    # An unknown field is ignored.
    assert body(client.post("/demandes/verification", data={"field": "password", "password": NIR})).strip() == ""


def test_live_guard_is_for_techniciens(client, login, w):
    login(w.agent)
    assert client.post("/demandes/verification", data={"field": "nom", "nom": NIR}).status_code == 403


def test_htmx_errors_answer_a_dsfr_alert_for_the_flash_region(client, login, w, app):
    """static/js/app.js moves the alert of an htmx error answer into #flash."""

    def alert(resp) -> str:
        text = body(resp)
        assert "data-ep-alert" in text and 'role="alert"' in text and "<html" not in text, text[:500]
        return text

    agent = login(w.agent, c=app.test_client())
    resp = agent.post("/demandes/verification", data={"field": "nom", "nom": "Martin"}, headers=HTMX)
    assert resp.status_code == 403 and "Accès refusé" in alert(resp)
    login(w.technicien)
    resp = client.get("/demandes/999999/messages", headers=HTMX)
    assert resp.status_code == 404 and "Page introuvable" in alert(resp)
    resp = client.get("/demandes/nouvelle/inconnu", headers=HTMX)
    assert resp.status_code == 404 and "Page introuvable" in alert(resp)
    d = make_demande(w.technicien, w.caisse)
    app.config["MAX_CONTENT_LENGTH"] = 4096
    resp = client.post(f"/demandes/{d.id}/messages", headers=HTMX, content_type="multipart/form-data",
                       data={"body": "Voici la pièce.", "files": [(io.BytesIO(PDF + b"0" * 8192), "gros.pdf")]})
    assert resp.status_code == 413 and "Le fichier envoyé dépasse la taille autorisée." in alert(resp)
    assert [m.body for m in d.messages] == []


# ---------------------------------------------------------------- attachments

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_files_are_stored_listed_and_downloaded_with_an_audit(client, login, w):
    login(w.technicien)
    resp = create(client, "etude_dossier", w.caisse,
                  files=[(io.BytesIO(PDF), "justificatif.pdf"), (io.BytesIO(PNG), "photo.png")])
    assert resp.status_code == 303, body(resp)[:2000]
    (d,) = demandes()
    assert [a.original_name for a in d.attachments] == ["justificatif.pdf", "photo.png"]
    page = body(client.get(f"/demandes/{d.id}"))
    a = d.attachments[0]
    assert f"/demandes/{d.id}/pieces/{a.id}" in page and "justificatif.pdf" in page
    before = db.session.scalar(select(func.count()).select_from(AuditEvent)
                               .where(AuditEvent.action == "document_downloaded"))
    resp = client.get(f"/demandes/{d.id}/pieces/{a.id}")
    assert resp.status_code == 200 and resp.data == PDF
    assert resp.headers["Content-Disposition"].startswith("attachment")
    after = db.session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action == "document_downloaded"))
    assert after == before + 1
    # A file of another demande through this demande's URL: 404.
    other = make_demande(w.colleague, w.caisse, nom="Autre")
    assert client.get(f"/demandes/{other.id}/pieces/{a.id}").status_code == 404


def test_refused_file_type_keeps_the_form_and_says_to_reselect(client, login, w):
    login(w.technicien)
    resp = create(client, "signalement", w.caisse, files=[(io.BytesIO(b"MZ\x90\x00 not a pdf"), "faux.pdf")])
    assert resp.status_code == 422
    text = body(resp)
    messages = html_lib.unescape(field_messages(resp, "files"))
    assert "« faux.pdf » : format non accepté (PDF, JPEG ou PNG uniquement)." in messages
    assert "Les fichiers choisis (faux.pdf) n'ont pas été conservés : sélectionnez-les à nouveau" in messages
    assert 'value="Martin"' in text and "Droits fermés depuis un mois." in text
    assert re.search(r'<input[^>]*checked[^>]*id="consent"|<input[^>]*id="consent"[^>]*checked', text)
    assert demandes() == []


def test_too_big_or_too_many_files_are_refused(client, login, w, app):
    login(w.technicien)
    app.config["MAX_ATTACHMENT_BYTES"] = 1024
    resp = create(client, "contact", w.caisse, files=[(io.BytesIO(PDF + b"0" * 2048), "gros.pdf")])
    assert resp.status_code == 422
    assert "« gros.pdf » dépasse" in html_lib.unescape(field_messages(resp, "files"))
    assert 'value="Changement d&#39;adresse"' in resp.get_data(as_text=True)
    app.config["MAX_ATTACHMENT_BYTES"] = 10 * 1024 * 1024
    six = [(io.BytesIO(PDF), f"piece{i}.pdf") for i in range(6)]
    resp = create(client, "contact", w.caisse, files=six)
    assert resp.status_code == 422
    assert "5 fichiers au maximum" in html_lib.unescape(field_messages(resp, "files"))
    assert demandes() == []


def test_reply_files_count_against_the_five_per_demande(client, login, w):
    login(w.technicien)
    four = [(io.BytesIO(PDF), f"piece{i}.pdf") for i in range(4)]
    assert create(client, "etude_dossier", w.caisse, files=four).status_code == 303
    (d,) = demandes()
    page = body(client.get(f"/demandes/{d.id}"))
    assert "encore 1 fichier au plus pour cette demande" in page
    resp = client.post(f"/demandes/{d.id}/messages", content_type="multipart/form-data",
                       data={"body": "Deux pièces de plus.", "files": [(io.BytesIO(PDF), "a.pdf"),
                                                                        (io.BytesIO(PNG), "b.png")]})
    assert resp.status_code == 422
    messages = html_lib.unescape(field_messages(resp, "files"))
    assert "4 sont déjà joints, vous pouvez en ajouter 1" in messages and "sélectionnez-les à nouveau" in messages
    assert "Deux pièces de plus." in body(resp)
    resp = client.post(f"/demandes/{d.id}/messages", content_type="multipart/form-data",
                       data={"body": "", "files": [(io.BytesIO(PNG), "b.png")]})
    assert resp.status_code == 303
    db.session.refresh(d)
    assert [a.original_name for a in d.attachments][-1] == "b.png" and d.attachments[-1].message_id is not None
    page = body(client.get(f"/demandes/{d.id}"))
    assert "aucun autre fichier ne peut être ajouté" in page and 'name="files"' not in page


# ---------------------------------------------------------------- the demande page and the thread

def test_colleague_sees_the_demande_and_replies_a_complement(client, login, w, outbox):
    d = make_demande(w.technicien, w.caisse)
    dm.request_complement(w.agent, d, "Merci de joindre l'avis d'imposition.")
    commit()
    login(w.colleague)  # the structure's demandes are shared by its techniciens
    page = body(client.get(f"/demandes/{d.id}"))
    assert "La caisse attend un complément" in page and "Merci de joindre l'avis d'imposition." in page
    assert "Complément demandé par la caisse" in page
    resp = client.post(f"/demandes/{d.id}/messages", data={"body": "Voici l'avis demandé."},
                       content_type="multipart/form-data")
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/demandes/{d.id}#echanges")
    db.session.refresh(d)
    assert d.status == DemandeStatus.PRISE_EN_CHARGE
    page = body(client.get(f"/demandes/{d.id}"))
    assert "Votre complément est transmis à la caisse." in page
    assert "Complément reçu" in page and "Voici l'avis demandé." in page
    thread = re.search(r'<ul class="ep-thread".*?</ul>', page, re.S).group(0)
    assert thread.index("Caisse") < thread.index("Structure")  # both sides, marked


def test_reply_guards_nir_and_health_and_keeps_the_text(client, login, w):
    d = make_demande(w.technicien, w.caisse)
    login(w.technicien)
    resp = client.post(f"/demandes/{d.id}/messages", data={"body": f"Son numéro : {NIR}"})
    assert resp.status_code == 422
    assert NIR_MASKED in html_lib.unescape(field_messages(resp, "body"))
    assert f"Son numéro : {NIR}" in body(resp)
    resp = client.post(f"/demandes/{d.id}/messages", data={"body": "Sortie de chimiothérapie."})
    assert resp.status_code == 422 and "<mark>chimiothérapie</mark>" in resp.get_data(as_text=True)
    resp = client.post(f"/demandes/{d.id}/messages", data={"body": "Sortie de chimiothérapie.",
                                                            "health_confirmed": "y"})
    assert resp.status_code == 303
    assert [m.body for m in d.messages] == ["Sortie de chimiothérapie."]
    assert client.post(f"/demandes/{d.id}/messages", data={"body": ""}).status_code == 422


def test_closed_demande_has_no_reply_form(client, login, w):
    d = make_demande(w.technicien, w.caisse)
    dm.close(w.agent, d, "traitee")
    commit()
    login(w.technicien)
    page = body(client.get(f"/demandes/{d.id}"))
    assert "Cette demande est clôturée" in page and 'id="reply-form"' not in page
    assert "Demande clôturée — Traitée" in page
    resp = client.post(f"/demandes/{d.id}/messages", data={"body": "Encore une question"})
    assert resp.status_code == 422 and "Cette demande est clôturée." in body(resp)


def test_deleted_author_is_shown_as_compte_supprime(client, login, w):
    from ep_web.models import AccountStatus

    d = make_demande(w.colleague, w.caisse)
    w.colleague.status = AccountStatus.DELETED
    db.session.commit()
    login(w.technicien)
    page = body(client.get(f"/demandes/{d.id}"))
    assert "par compte supprimé" in page and "Bernard" not in page


def test_thread_fragment_and_redirect(client, login, w):
    d = make_demande(w.technicien, w.caisse)
    dm.caisse_reply(w.agent, d, "Bien reçu, nous regardons.")
    commit()
    login(w.technicien)
    frag = client.get(f"/demandes/{d.id}/messages", headers=HTMX)
    assert frag.status_code == 200 and "Bien reçu, nous regardons." in body(frag) and "<html" not in body(frag)
    resp = client.get(f"/demandes/{d.id}/messages")
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/demandes/{d.id}#echanges")


# ---------------------------------------------------------------- isolation (SPEC §8) and ended conventions

def _demande_urls(d, attachment_id) -> list[tuple[str, str]]:
    return [("GET", f"/demandes/{d.id}"), ("GET", f"/demandes/{d.id}/messages"),
            ("POST", f"/demandes/{d.id}/messages"), ("GET", f"/demandes/{d.id}/pieces/{attachment_id}")]


def _with_file(w):
    from werkzeug.datastructures import FileStorage

    from ep_web.domain.attachments import validate_uploads

    prepared = validate_uploads([FileStorage(io.BytesIO(PDF), "secret-justificatif.pdf")], 0)
    d = dm.create_demande(w.technicien, dm.DemandeInput(
        service="contact", caisse_id=w.caisse.id, civilite="M.", nom="Secretnom", prenom="Jean",
        date_naissance=date(1975, 3, 4), departement="74",
        details={"subject": "Objet secret", "message": "Texte secret"}), prepared)
    dm.caisse_reply(w.agent, d, "Réponse secrète")
    commit()
    return d


@pytest.mark.parametrize("who", ["other_technicien", "other_agent", "agent", "gestionnaire"])
def test_outsiders_get_404_on_the_demande_its_files_and_its_messages(client, login, w, who):
    d = _with_file(w)
    login(getattr(w, who))
    for method, url in _demande_urls(d, d.attachments[0].id):
        resp = client.get(url) if method == "GET" else client.post(url, data={"body": "Bonjour"})
        assert resp.status_code == 404, (who, method, url, resp.status_code)
        text = body(resp)
        for secret in ("Secretnom", "Objet secret", "Texte secret", "Réponse secrète", "secret-justificatif"):
            assert secret not in text
    assert [m.body for m in d.messages] == ["Réponse secrète"]


def test_home_counters_leave_out_the_caisses_of_ended_conventions(client, login, w):
    """SPEC §6 technicien home: complements (own, then the structure's), drafts,
    unread replies; a demande to a caisse whose convention ended counts no more."""
    from ep_web.domain import drafts

    def counts():
        page = body(client.get("/"))
        return {key: int(re.search(rf'data-testid="count-{key}">(\d+)<', page).group(1))
                for key in ("complements_mine", "complements_structure", "drafts", "replies")}

    mine = make_demande(w.technicien, w.caisse)
    colleague = make_demande(w.colleague, w.caisse, nom="Autre")
    ended = make_demande(w.technicien, w.caisse73, nom="Savoie")
    for agent, d in ((w.agent, mine), (w.agent, colleague), (w.other_agent, ended)):
        dm.request_complement(agent, d, "Il manque un justificatif.")
    dm.caisse_reply(w.agent, mine, "Bonjour, voici la réponse.")
    drafts.save(w.technicien, "contact", {"nom": "Brouillon"})
    commit()
    login(w.technicien)
    assert counts() == {"complements_mine": 2, "complements_structure": 3, "drafts": 1, "replies": 1}
    terminate(None, w.conv73, resiliation=True, reason="Fin du partenariat")
    commit()
    assert counts() == {"complements_mine": 1, "complements_structure": 2, "drafts": 1, "replies": 1}


def test_ended_convention_hides_the_demandes_and_forbids_new_ones(client, login, w):
    d = make_demande(w.technicien, w.caisse73)
    kept = make_demande(w.technicien, w.caisse, nom="Reste")
    terminate(None, w.conv73, resiliation=True, reason="Fin du partenariat")
    commit()
    login(w.technicien)
    assert client.get(f"/demandes/{d.id}").status_code == 404
    assert client.get(f"/demandes/{d.id}/messages").status_code == 404
    history = body(client.get("/demandes"))
    assert d.reference not in history and kept.reference in history
    assert "CPAM de Savoie fictive" not in body(client.get("/demandes/nouvelle?departement=73"))
    resp = create(client, "contact", w.caisse73)
    assert resp.status_code == 422
    assert "pas de convention en cours avec cette caisse" in body(resp)
    assert f'value="{w.caisse73.id}"' not in resp.get_data(as_text=True)  # no longer offered
    assert len(demandes()) == 2


def test_gestionnaire_makes_no_demande(client, login, w):
    login(w.gestionnaire)
    assert client.get("/demandes/nouvelle").status_code == 403
    assert client.post("/demandes/nouvelle/contact", data=form_data("contact", w.caisse)).status_code == 403
    assert client.get("/demandes").status_code == 403
    assert demandes() == []


def test_health_warning_marks_the_field_that_holds_the_term(client, login, w):
    """The text holding the term is in error, the term shown next to it, not
    only in the warning at the bottom of the form."""
    login(w.technicien)
    resp = create(client, "rendez_vous", w.caisse, reason="Rendez-vous après une chimiothérapie",
                  slots="Les mardis matin")
    assert resp.status_code == 422
    text = resp.get_data(as_text=True)
    assert "<mark>chimiothérapie</mark>" in field_messages(resp, "reason")
    assert "contenir des données de santé" in field_messages(resp, "reason")
    textarea = re.search(r'<textarea[^>]*id="reason"[^>]*>', text)
    assert textarea and 'aria-invalid="true"' in textarea.group(0)
    assert "données de santé" not in field_messages(resp, "slots")
    assert 'id="group-reason"' in text and 'fr-input-group fr-input-group--error" id="group-reason"' in text
