"""Processing a demande (SPEC §4): take, reply, complement, document by post,
close — the state machine through the routes, the guards on the caisse's texts,
422 with the message next to the field and the typed text kept, 303 or an htmx
fragment on success, and the author's e-mails without any identity."""
import html as html_lib
import re

import pytest

from ep_web.domain import demandes as dm
from ep_web.extensions import db
from ep_web.models import DemandeStatus, Outcome
from ep_web.transaction import commit
from tests.traitement.conftest import BIRTH_SPELLINGS, DEPARTEMENT, PERSON

NIR = "2 57 11 74 123 456 42"
HTMX = {"HX-Request": "true"}


def _url(d, action=""):
    return f"/traitement/demandes/{d.id}" + (f"/{action}" if action else "")


def _body(resp) -> str:
    return html_lib.unescape(resp.get_data(as_text=True))


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def agent(w, login):
    return login(w.agent)


def test_show_has_identity_timeline_thread_files_and_actions(app, w, new_demande, agent):
    d = new_demande(w.technicien, w.caisse, "signalement", urgent=True)
    html = _body(agent.get(_url(d)))
    for part in ('data-testid="identity"', 'data-testid="timeline"', 'id="echanges"', 'id="pieces"',
                 'data-testid="actions"'):
        assert part in html, part
    text = _text(html)
    assert PERSON["nom"] in text and "23/11/1957" in text and DEPARTEMENT in text
    assert "Reste 48 h" in text and "Prendre en charge" in text
    # Signalement outcomes for a signalement.
    assert "Transmis à la Mission accompagnement santé" in text and "Parcours créé" in text
    assert "Examen de prévention réalisé" in text


def test_general_outcomes_for_other_services(app, w, new_demande, agent):
    d = new_demande(w.technicien, w.caisse, "contact")
    text = _text(_body(agent.get(_url(d))))
    assert "Traitée" in text and "Sans suite" in text and "Parcours créé" not in text


def test_take_then_take_over(app, w, new_demande, agent, login, outbox):
    d = new_demande(w.technicien, w.caisse)
    resp = agent.post(_url(d, "prise-en-charge"))
    assert resp.status_code == 303 and resp.headers["Location"].endswith(_url(d))
    db.session.refresh(d)
    assert d.status == DemandeStatus.PRISE_EN_CHARGE and d.assigned_to_id == w.agent.id and d.taken_at
    assert [e.kind for e in d.events] == ["created", "taken"]
    assert len(outbox(w.technicien.email)) == 1
    page = _body(agent.get(_url(d)))
    assert "Vous avez pris en charge la demande." in page and "(vous)" in page
    # A colleague takes it over: no new status, no new e-mail.
    other = login(w.agent2, c=app.test_client())
    resp = other.post(_url(d, "prise-en-charge"), headers=HTMX)
    assert resp.status_code == 200 and "<html" not in _body(resp)
    assert 'id="demande"' in _body(resp) and 'hx-swap-oob="innerHTML"' in _body(resp)
    db.session.refresh(d)
    assert d.status == DemandeStatus.PRISE_EN_CHARGE and d.assigned_to_id == w.agent2.id
    assert len(outbox(w.technicien.email)) == 1


def test_reply_refusals_keep_the_text(app, w, new_demande, agent, outbox):
    d = new_demande(w.technicien, w.caisse)
    resp = agent.post(_url(d, "reponse"), data={"reply-body": "   "})
    assert resp.status_code == 422 and "Écrivez le message." in _body(resp)
    typed = f"Nous avons bien noté le numéro {NIR} de la personne."
    resp = agent.post(_url(d, "reponse"), data={"reply-body": typed})
    html = _body(resp)
    assert resp.status_code == 422
    assert "numéro de sécurité sociale (NIR)" in html and "document joint" in html
    assert 'id="reply-body-error"' in html and 'aria-describedby="reply-body-error"' in html
    assert NIR in html  # what was typed is kept, to be corrected
    # Health terms: highlighted, then the confirmation box.
    typed = "La personne est suivie pour son diabète, nous la rappelons."
    resp = agent.post(_url(d, "reponse"), data={"reply-body": typed}, headers=HTMX)
    html = _body(resp)
    assert resp.status_code == 422 and "<html" not in html
    assert "<mark>diabète</mark>" in html and "données de santé" in html
    assert 'name="reply-health_confirmed"' in html and typed in html
    db.session.refresh(d)
    assert d.status == DemandeStatus.TRANSMISE and not d.messages and not outbox(w.technicien.email)
    resp = agent.post(_url(d, "reponse"), data={"reply-body": typed, "reply-health_confirmed": "y"})
    assert resp.status_code == 303
    db.session.refresh(d)
    assert d.messages[0].body == typed and d.messages[0].health_confirmed and d.messages[0].from_caisse
    # The first reply takes the demande.
    assert d.status == DemandeStatus.PRISE_EN_CHARGE and d.assigned_to_id == w.agent.id
    assert d.events[-1].kind == "message_caisse"
    assert typed in _body(agent.get(_url(d)))


def test_complement_state_machine(app, w, new_demande, agent, outbox):
    d = new_demande(w.technicien, w.caisse)
    resp = agent.post(_url(d, "complement"), data={"complement-body": f"Le NIR {NIR} manque"})
    assert resp.status_code == 422 and "NIR" in _body(resp)
    resp = agent.post(_url(d, "complement"), data={"complement-body": "Merci de joindre un avis d'imposition."})
    assert resp.status_code == 303
    db.session.refresh(d)
    assert d.status == DemandeStatus.ATTENTE_COMPLEMENT
    page = _body(agent.get(_url(d)))
    assert "En attente de complément" in page and "Demander le complément" not in page
    # Asked twice: refused, in French.
    resp = agent.post(_url(d, "complement"), data={"complement-body": "Encore autre chose."})
    assert resp.status_code == 422
    assert "Un complément ne peut être demandé que sur une demande prise en charge." in _body(resp)
    # The structure answers: back to « prise en charge ».
    dm.partner_reply(w.technicien, d, "Voici l'avis demandé.")
    commit()
    assert d.status == DemandeStatus.PRISE_EN_CHARGE
    page = _body(agent.get(_url(d)))
    assert "Voici l'avis demandé." in page and "Complément reçu" in page


def test_close_with_an_outcome_then_nothing_moves(app, w, new_demande, agent, outbox):
    d = new_demande(w.technicien, w.caisse, "signalement")
    resp = agent.post(_url(d, "cloture"), data={})
    assert resp.status_code == 422 and "Choisissez l'issue de la demande." in _body(resp)
    contact = new_demande(w.technicien, w.caisse, "contact")
    resp = agent.post(_url(contact, "cloture"), data={"close-outcome": Outcome.PARCOURS_CREE.value})
    assert resp.status_code == 422 and "ne s'applique pas" in _body(resp)
    resp = agent.post(_url(d, "cloture"), data={"close-outcome": Outcome.TRANSMIS_MISSION_ACCOMPAGNEMENT.value})
    assert resp.status_code == 303
    db.session.refresh(d)
    assert d.status == DemandeStatus.CLOTUREE and d.outcome == Outcome.TRANSMIS_MISSION_ACCOMPAGNEMENT
    page = _text(_body(agent.get(_url(d))))
    assert "Demande clôturée le" in page and "Transmis à la Mission accompagnement santé" in page
    assert "Envoyer la réponse" not in page
    # Every move on a closed demande is refused with a French message.
    for action, data in (("prise-en-charge", {}), ("reponse", {"reply-body": "Encore ?"}),
                         ("complement", {"complement-body": "Encore ?"}), ("envoi-postal", {}),
                         ("cloture", {"close-outcome": "traitee"})):
        resp = agent.post(_url(d, action), data=data)
        html = _body(resp)
        assert resp.status_code == 422, action
        assert "Cette demande est clôturée." in html or "ne peut être demandé" in html, action
    db.session.refresh(d)
    assert d.outcome == Outcome.TRANSMIS_MISSION_ACCOMPAGNEMENT and not d.messages


def test_not_habilitee_marks_sent_by_post(app, w, new_demande, agent, outbox):
    assert not w.partenaire.habilite_documents
    d = new_demande(w.technicien, w.caisse, "document")
    page = _text(_body(agent.get(_url(d))))
    assert "n'est pas habilitée à recevoir des documents" in page
    assert "Marquer comme envoyé à l'adresse connue de l'assuré" in page
    assert "Déposer le document" not in page
    resp = agent.post(_url(d, "envoi-postal"))
    assert resp.status_code == 303
    db.session.refresh(d)
    assert d.sent_by_post_at is not None and d.events[-1].kind == "document_by_post"
    page = _text(_body(agent.get(_url(d))))
    assert "Document envoyé à l'adresse connue de l'assuré" in page
    mail = outbox(w.technicien.email)[-1]
    assert "document envoyé à l'adresse connue de l'assuré" in mail.subject


def test_emails_across_the_lifecycle_carry_the_reference_and_a_link_only(app, w, new_demande, agent, outbox):
    d = new_demande(w.technicien, w.caisse, "signalement", urgent=True)
    steps = [("prise-en-charge", {}),
             ("complement", {"complement-body": f"Pouvez-vous confirmer l'adresse de Mme {PERSON['nom']} ?"}),
             ("reponse", {"reply-body": f"Nous avons appelé {PERSON['prenom']} {PERSON['nom']} le 23/11/1957."}),
             ("envoi-postal", {}),
             ("cloture", {"close-outcome": Outcome.PARCOURS_CREE.value})]
    for action, data in steps:
        if action == "reponse":
            dm.partner_reply(w.technicien, d, "Adresse confirmée.")
            commit()
        assert agent.post(_url(d, action), data=data).status_code == 303, action
    mails = outbox(w.technicien.email)
    assert len(mails) == 5  # taken, complement asked, reply, sent by post, closed
    secrets = [PERSON["nom"], PERSON["prenom"], PERSON["nom"].upper(), PERSON["nom"].lower(), DEPARTEMENT,
               *BIRTH_SPELLINGS]
    for mail in mails:
        assert d.reference in mail.subject
        for body in (mail.body_text, mail.body_html):
            assert d.reference in body and f"http://ep.test/demandes/{d.id}" in body
        blob = "\n".join((mail.subject, mail.body_text, mail.body_html))
        for secret in secrets:
            assert secret not in blob, (secret, mail.subject)
        # Nothing the caisse or the structure wrote either.
        assert "Adresse confirmée" not in blob and "Pouvez-vous" not in blob
    assert all(m.to == w.technicien.email for m in outbox())


@pytest.mark.parametrize("action,data", [("cloture", {"close-outcome": Outcome.SANS_SUITE.value}),
                                         ("complement", {"complement-body": "Merci de joindre l'avis."})])
def test_closing_or_asking_a_complement_on_an_untaken_demande_shows_the_take(app, w, new_demande, agent, outbox,
                                                                               action, data):
    d = new_demande(w.technicien, w.caisse)
    page = _text(_body(agent.get(_url(d))))
    assert "Personne ne l'a encore prise en charge" in page
    assert agent.post(_url(d, action), data=data).status_code == 303
    timeline = _body(agent.get(_url(d)))
    timeline = _text(timeline[timeline.index('data-testid="timeline"'):])
    took = timeline.index("Prise en charge par la caisse")
    done = timeline.index("Demande clôturée" if action == "cloture" else "Complément demandé par la caisse")
    assert took < done
    assert f"par {w.agent.full_name} ({w.caisse.name})" in timeline[took:done]
    assert len(outbox(w.technicien.email)) == 1


def test_the_caisse_extends_the_retention_of_a_closed_demande_with_a_reason(app, w, new_demande, agent, login, clock):
    """SPEC §7: the purge date is shown to both sides; the caisse keeps a closed
    demande longer for a stated reason (audited); a date that would not extend
    it, or no reason, is refused next to its field with what was typed kept."""
    from ep_web.domain import audit as audit_domain
    from ep_web.models import AuditEvent

    d = new_demande(w.technicien, w.caisse)
    dm.close(w.agent, d, dm.outcomes_for(d)[0].value)
    commit()
    purge = dm.purge_date(d)
    html = _body(agent.get(_url(d)))
    assert f"seront supprimées le {purge.strftime('%d/%m/%Y')}" in _text(html)
    soon = purge.strftime("%d/%m/%Y")
    resp = agent.post(_url(d, "conservation"), data={"retention-until": soon, "retention-reason": "Litige"})
    assert resp.status_code == 422 and 'id="retention-until-error"' in resp.get_data(as_text=True)
    later = (purge.replace(year=purge.year + 1)).strftime("%d/%m/%Y")
    resp = agent.post(_url(d, "conservation"), data={"retention-until": later, "retention-reason": " "})
    html = _body(resp)
    assert resp.status_code == 422 and 'id="retention-reason-error"' in html and later in html
    resp = agent.post(_url(d, "conservation"),
                      data={"retention-until": later, "retention-reason": "Contentieux en cours"})
    assert resp.status_code == 303
    db.session.expire_all()
    assert dm.purge_date(d).strftime("%d/%m/%Y") == later
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "retention_extended")).one()
    assert event.details["reason"] == "Contentieux en cours" and "retention_extended" in audit_domain.ACTIONS
    partner = login(w.technicien, c=app.test_client())
    text = _text(_body(partner.get(f"/demandes/{d.id}")))
    assert f"supprimée, avec ses pièces, le {later}" in text and "Contentieux en cours" in text
