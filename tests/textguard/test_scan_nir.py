"""``flask ep scan-nir``: an operator checks a database after the guard
improves. Rows are seeded bypassing the guard, as older versions let them in."""
from datetime import date
from itertools import count

from ep_web.extensions import db
from ep_web.models import Demande, DemandeMessage, GestionnaireRequest, Ticket, TicketMessage
from ep_web.models.requests import RequestKind
from ep_web.transaction import commit
from tests.textguard.grammars import nir_key

BODY = "2 91 12 2B 045 318"
KEYED = f"{BODY} {nir_key(BODY.replace(' ', '')):02d}"
_numbers = count(1)


def _demande(w, **kw):
    data = dict(reference=f"EP-2026-{next(_numbers):06d}", service="contact", caisse_id=w.caisse.id,
                partenaire_id=w.partenaire.id, author_id=w.technicien.id, civilite="Mme", nom="Martin",
                prenom="Léa", date_naissance=date(1980, 5, 17), departement="74", nom_search="martin lea",
                details={"subject": "Carte Vitale"}, message="")
    data.update(kw)
    d = Demande(**data)
    db.session.add(d)
    db.session.flush()
    return d


def _run(app):
    return app.test_cli_runner().invoke(args=["ep", "scan-nir"])


def test_scan_reports_each_row_holding_a_nir_without_the_number(app, make):
    w = make.world()
    clean = _demande(w, message="Rappeler au 06 12 34 56 78, SIRET 123 456 789 00012.")
    in_message = _demande(w, message=f"NIR : {KEYED.replace(' ', '.')}")
    in_name = _demande(w, nom=f"Martin {BODY.replace(' ', '')}")
    in_details = _demande(w, details={"subject": "Carte", "slots": ["mardi", f"jeudi, {KEYED}"]})
    msg = DemandeMessage(demande_id=clean.id, author_id=w.technicien.id, body=f"le n° {BODY}")
    ticket = Ticket(reference="T-2026-00001", caisse_id=w.caisse.id, partenaire_id=w.partenaire.id,
                    author_id=w.technicien.id, subject="Erreur", description=f"Page blanche avec {KEYED}")
    db.session.add_all([msg, ticket])
    db.session.flush()
    ticket_msg = TicketMessage(ticket_id=ticket.id, author_id=w.technicien.id, body=f"encore\n{KEYED}")
    request = GestionnaireRequest(partenaire_id=w.partenaire.id, caisse_id=w.caisse.id, kind=RequestKind.CREATION,
                                  payload={"nom": "Durand", "fonction": KEYED}, comment="", deadline=date(2026, 3, 9),
                                  requested_by_id=w.gestionnaire.id)
    w.technicien.fonction = f"CESF {BODY}"
    db.session.add_all([ticket_msg, request])
    commit()

    result = _run(app)

    assert result.exit_code == 1
    assert sorted(result.stdout.splitlines()) == sorted([
        f"demande\t{in_message.id}\tmessage", f"demande\t{in_name.id}\tnom",
        f"demande\t{in_details.id}\tdetails.slots[1]", f"demande_message\t{msg.id}\tbody",
        f"ticket\t{ticket.id}\tdescription", f"ticket_message\t{ticket_msg.id}\tbody",
        f"gestionnaire_request\t{request.id}\tpayload.fonction", f"account\t{w.technicien.id}\tfonction",
    ])
    assert "8 texte(s) contiennent un NIR" in result.stderr
    for digits in ("045", "318", "2B", "91 12"):
        assert digits not in result.stdout + result.stderr


def test_scan_of_a_clean_database_exits_zero(app, make):
    w = make.world()
    _demande(w, message="Rendez-vous le 12/03/2026 à 14h30, tél. 06 12 34 56 78, réf. 2026-000123.")
    commit()
    result = _run(app)
    assert result.exit_code == 0, result.stdout
    assert result.stdout == ""
    assert "Aucun NIR trouvé" in result.stderr
