"""Notifications (SPEC §6): one per event for the author and the followers, in
the portal and by e-mail as each chose (now, tomorrow's digest, never), the
structure's shared mailbox, « Suivre », the hand-over of a leaving technicien,
and the agent's « la structure a répondu » tab."""
from datetime import timedelta

import pytest

from ep_web.domain import accounts, notifications, reviews, tickets
from ep_web.domain import demandes as dm
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.domain.home import agent_tab_counts
from ep_web.extensions import db
from ep_web.models import DemandeEvent, EmailMode, Notification, NotificationKind
from ep_web.transaction import commit
from tests.notifications.conftest import PERSON


def _personal_data_absent(email):
    body = email.subject + email.body_text + email.body_html
    for value in (PERSON["nom"], PERSON["prenom"], "1957"):
        assert value not in body, f"{value!r} in an e-mail"


def _notes(account):
    return db.session.scalars(db.select(Notification).where(Notification.account_id == account.id)
                              .order_by(Notification.id)).all()


def _ask_complement(w, demande):
    dm.request_complement(w.agent, demande, "Il manque l'avis d'imposition.")
    commit()


def test_complement_reaches_author_and_follower_not_a_bystander(nw, new_demande, outbox):
    w = nw
    demande = new_demande(w.technicien, w.caisse)
    notifications.follow(w.colleague, demande)
    commit()
    _ask_complement(w, demande)

    for person in (w.technicien, w.colleague):
        notes = _notes(person)
        assert [(n.kind, n.event) for n in notes] == [(NotificationKind.COMPLEMENT, "complement")]
        assert demande.reference in notes[0].text and notes[0].link == f"/demandes/{demande.id}"
        assert notifications.unread_count(person) == 1
        mails = [m for m in outbox(person.email) if m.template == "demande_update"]
        assert len(mails) == 1 and "complément" in mails[0].subject
        _personal_data_absent(mails[0])
    assert _notes(w.bystander) == [] and outbox(w.bystander.email) == []


def test_every_demande_event_notifies_with_its_kind(nw, new_demande):
    w = nw
    demande = new_demande(w.technicien, w.caisse)
    dm.take(w.agent, demande)
    dm.caisse_reply(w.agent, demande, "Nous étudions le dossier.")
    dm.mark_sent_by_post(w.agent, demande)
    dm.close(w.agent, demande, "traitee")
    commit()
    assert [(n.kind, n.event) for n in _notes(w.technicien)] == [
        (NotificationKind.DEMANDE, "status"), (NotificationKind.DEMANDE, "reply"),
        (NotificationKind.DOCUMENT, "document_post"), (NotificationKind.DEMANDE, "status")]


@pytest.mark.parametrize("mode", [EmailMode.DIGEST, EmailMode.NEVER])
def test_a_preference_holds_back_the_instant_email_but_not_the_bell(nw, new_demande, outbox, mode):
    w = nw
    notifications.set_preferences(w.technicien, {k.value: (mode.value if k == NotificationKind.COMPLEMENT
                                                           else "immediate")
                                                 for k in notifications.preferences(w.technicien)})
    commit()
    demande = new_demande(w.technicien, w.caisse)
    _ask_complement(w, demande)
    assert outbox(w.technicien.email) == []
    assert notifications.unread_count(w.technicien) == 1
    # Another kind still comes at once.
    dm.close(w.agent, demande, "traitee")
    commit()
    assert [m.template for m in outbox(w.technicien.email)] == ["demande_update"]


def test_digest_comes_next_day_once_and_never_empty(nw, new_demande, outbox, clock):
    w = nw
    notifications.set_preferences(w.technicien, {k.value: "digest" for k in notifications.preferences(w.technicien)})
    commit()
    # Nothing waiting: no digest for anyone.
    assert notifications.send_digests() == {"digests": 0, "notifications": 0}
    first = new_demande(w.technicien, w.caisse)
    second = new_demande(w.technicien, w.caisse, nom="Autrenom")
    _ask_complement(w, first)
    dm.take(w.agent, second)
    commit()
    assert outbox(w.technicien.email) == []

    clock.advance(days=1)  # the nightly sweep, the day after
    assert notifications.send_digests() == {"digests": 1, "notifications": 2}
    commit()
    mails = outbox(w.technicien.email)
    assert [m.template for m in mails] == ["notification_digest"]
    assert first.reference in mails[0].body_text and second.reference in mails[0].body_text
    assert f"http://ep.test/demandes/{first.id}" in mails[0].body_text
    _personal_data_absent(mails[0])
    # A second run sends nothing more; the notifications stay unread in the portal.
    assert notifications.send_digests() == {"digests": 0, "notifications": 0}
    assert notifications.unread_count(w.technicien) == 2


def test_preferences_refuse_an_unknown_choice(nw):
    with pytest.raises(DomainError) as exc:
        notifications.set_preferences(nw.technicien, {"complement": "parfois"})
    assert exc.value.field == "pref_demande"
    with pytest.raises(DomainError):
        notifications.set_preferences(nw.agent, {})  # agents receive no e-mail of this kind


def test_unfollow_silences_even_the_author(nw, new_demande, outbox):
    w = nw
    demande = new_demande(w.technicien, w.caisse)
    notifications.unfollow(w.technicien, demande)
    commit()
    _ask_complement(w, demande)
    assert _notes(w.technicien) == [] and outbox(w.technicien.email) == []


def test_only_a_technicien_of_the_structure_follows(nw, new_demande):
    w = nw
    demande = new_demande(w.technicien, w.caisse)
    for outsider in (w.other_technicien, w.gestionnaire, w.agent):
        with pytest.raises(NotAllowed):
            notifications.follow(outsider, demande)


def test_shared_mailbox_professional_only_and_told_without_personal_data(nw, new_demande, outbox):
    w = nw
    domain = w.partenaire.domain_list[0]
    for bad in ("accueil@gmail.com", "accueil@ailleurs.example", "pas-une-adresse"):
        with pytest.raises(DomainError) as exc:
            notifications.set_shared_mailbox(w.gestionnaire, bad)
        assert exc.value.field == "address"
    with pytest.raises(NotAllowed):
        notifications.set_shared_mailbox(w.technicien, f"accueil@{domain}")
    assert notifications.set_shared_mailbox(w.gestionnaire, f" Accueil@{domain} ") == f"accueil@{domain}"
    commit()
    demande = new_demande(w.technicien, w.caisse)
    _ask_complement(w, demande)
    mails = outbox(f"accueil@{domain}")
    assert len(mails) == 1 and demande.reference in mails[0].body_text
    _personal_data_absent(mails[0])
    assert notifications.set_shared_mailbox(w.gestionnaire, "") == ""


def test_hand_over_when_a_technicien_leaves(nw, new_demande):
    w = nw
    leaving = w.technicien
    open_one = new_demande(leaving, w.caisse)
    followed = new_demande(w.bystander, w.caisse, nom="Suivinom")
    notifications.follow(leaving, followed)
    closed = new_demande(leaving, w.caisse, nom="Closnom")
    dm.close(w.agent, closed, "traitee")
    commit()
    # Open demandes and a colleague to take them: the choice is required.
    with pytest.raises(DomainError) as exc:
        accounts.inactivate_technicien(w.gestionnaire, leaving, "Départ", None)
    assert exc.value.field == "colleague_id" and "2 demandes" in exc.value.message
    with pytest.raises(DomainError):
        accounts.inactivate_technicien(w.gestionnaire, leaving, "Départ", w.other_technicien.id)
    assert accounts.inactivate_technicien(w.gestionnaire, leaving, "Départ", w.colleague.id) == 2
    commit()
    for demande in (open_one, followed):
        assert notifications.is_following(w.colleague, demande)
        event = db.session.scalars(db.select(DemandeEvent).where(DemandeEvent.demande_id == demande.id,
                                                                 DemandeEvent.kind == "handed_over")).one()
        assert event.details == {"to_id": w.colleague.id, "from_id": leaving.id}
    assert not notifications.is_following(w.colleague, closed)
    assert {n.event for n in _notes(w.colleague)} == {"handed_over"}
    # The leaving technicien hears of nothing more; the colleague does.
    before = len(_notes(leaving))
    _ask_complement(w, open_one)
    assert [n.event for n in _notes(w.colleague)][-1] == "complement"
    assert len(_notes(leaving)) == before


def test_partner_replied_tab_counts_until_the_agent_acts(nw, new_demande):
    w = nw
    demande = new_demande(w.technicien, w.caisse)
    _ask_complement(w, demande)
    assert agent_tab_counts(w.agent)["reponse-partenaire"] == 0
    assert agent_tab_counts(w.agent)["attente-partenaire"] == 1
    dm.partner_reply(w.technicien, demande, "Voici l'avis d'imposition.")
    commit()
    assert agent_tab_counts(w.agent)["reponse-partenaire"] == 1
    assert agent_tab_counts(w.agent2)["reponse-partenaire"] == 0  # not the one holding it
    dm.caisse_reply(w.agent, demande, "Merci, nous traitons.")
    commit()
    assert agent_tab_counts(w.agent)["reponse-partenaire"] == 0


def test_mark_read_by_opening_and_all_at_once(nw, new_demande):
    w = nw
    first = new_demande(w.technicien, w.caisse)
    second = new_demande(w.technicien, w.caisse, nom="Autrenom")
    _ask_complement(w, first)
    _ask_complement(w, second)
    assert notifications.mark_demande_read(w.technicien, first.id) == 1
    assert notifications.unread_count(w.technicien) == 1
    assert notifications.mark_all_read(w.technicien) == 1
    assert notifications.unread_count(w.technicien) == 0


def test_bell_count_is_capped(nw):
    w = nw
    for i in range(105):
        db.session.add(Notification(account_id=w.technicien.id, kind=NotificationKind.NEWS, event="news",
                                    text=f"Actualité {i}", link="/actualites"))
    db.session.flush()
    assert notifications.unread_count(w.technicien) == 100  # shown "99+"


def test_ticket_answer_and_review_and_account_events(nw, make, outbox, clock):
    w = nw
    ticket = tickets.open_ticket(w.technicien, caisse_id=w.caisse.id, subject="Page lente",
                                 description="Le bouton ne répond pas.", area="autre", screenshots=[])
    commit()
    tickets.reply(w.admin, ticket, "Le correctif est en ligne.")
    commit()
    ticket_notes = [n for n in _notes(w.technicien) if n.kind == NotificationKind.TICKET]
    assert len(ticket_notes) == 1 and ticket.reference in ticket_notes[0].text
    assert ticket_notes[0].link == f"/tickets/{ticket.id}"
    assert [m.template for m in outbox(w.technicien.email)] == ["ticket_answered"]
    reviews.open_review(w.admin, w.partenaire, clock.now().date() + timedelta(days=10))
    commit()
    assert {n.event for n in _notes(w.gestionnaire)} >= {"review"}
    accounts.inactivate_technicien(w.gestionnaire, w.bystander, "", None)
    commit()
    # The other gestionnaire hears of it; the actor does not.
    assert "account_inactivated" in {n.event for n in _notes(w.gestionnaire2)}
    assert "account_inactivated" not in {n.event for n in _notes(w.gestionnaire)}


def test_idle_warning_is_an_account_event_for_the_technicien_and_gestionnaires(nw, clock, app):
    from ep_web.domain.lifecycle import warn_idle_techniciens

    w = nw
    days = app.config["IDLE_INACTIVATION_DAYS"]
    w.bystander.last_login_at = clock.now() - timedelta(days=days - 3)
    w.bystander.activated_at = None
    db.session.commit()
    assert warn_idle_techniciens()["warned"] == 1
    commit()
    own = [n for n in _notes(w.bystander) if n.event == "idle_warning"]
    assert len(own) == 1 and own[0].kind == NotificationKind.ACCOUNT and "sera inactivé le" in own[0].text
    for g in (w.gestionnaire, w.gestionnaire2):
        notes = [n for n in _notes(g) if n.event == "idle_warning"]
        assert len(notes) == 1 and w.bystander.nom in notes[0].text and notes[0].read_at is None
    assert not [n for n in _notes(w.technicien) if n.event == "idle_warning"]
    # A second run warns nobody twice.
    assert warn_idle_techniciens()["warned"] == 0
    assert len([n for n in _notes(w.bystander) if n.event == "idle_warning"]) == 1


def test_news_published_now_reaches_the_caisse_partners_only(nw, clock):
    from ep_web.domain import news

    w = nw
    item = news.create_news(w.admin, title="Nouveaux horaires", body="L'accueil ferme à 16 h.",
                            publish_at=clock.now())
    commit()
    for person in (w.technicien, w.gestionnaire):
        notes = [n for n in _notes(person) if n.kind == NotificationKind.NEWS]
        assert len(notes) == 1 and notes[0].link == f"/actualites/{item.id}"
    assert not [n for n in _notes(w.other_technicien) if n.kind == NotificationKind.NEWS]
    assert not [n for n in _notes(w.agent) if n.kind == NotificationKind.NEWS]
    # Targeted at another type of structure: nobody here hears of it.
    news.create_news(w.admin, title="Pour les tutelles", body="Information.", publish_at=clock.now(),
                     target_types=["mandataire"])
    commit()
    assert len([n for n in _notes(w.technicien) if n.kind == NotificationKind.NEWS]) == 1
