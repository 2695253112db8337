"""Fixtures of the caisse queue tests: a world with two agents per caisse and a
demande factory going through the real domain (ep_web.domain.demandes)."""
from datetime import date

import pytest

from ep_web.domain import demandes as dm
from ep_web.extensions import db
from ep_web.transaction import commit

# A fictitious person: every identity field is distinctive so that a test can
# assert it never reaches an e-mail.
PERSON = {"civilite": "Mme", "nom": "Quenouillard", "prenom": "Hortensia", "date_naissance": date(1957, 11, 23)}
DEPARTEMENT = "974"
BIRTH_SPELLINGS = ("23/11/1957", "1957-11-23", "23.11.1957", "23-11-1957", "23/11/57", "19571123", "231157",
                   "23 novembre 1957", "novembre 1957", "1957")

DETAILS = {
    "contact": {"subject": "Carte Vitale", "message": "La personne n'a plus de carte."},
    "etude_dossier": {"kind": "css", "message": "Étude des droits à la CSS."},
    "suivi_ame": {"filed_on": date(2026, 1, 15), "message": "Dossier déposé en janvier."},
    "signalement": {"difficulty_kinds": ["droits"], "message": "Droits fermés depuis un mois."},
    "rendez_vous": {"reason": "Ouverture de droits", "slots": "Mardi matin", "channel": "guichet", "message": ""},
    "document": {"document_kind": "attestation_droits", "message": ""},
}


@pytest.fixture
def w(make):
    w = make.world()
    # The caisse covers an overseas département: "974" is easy to look for in e-mails.
    w.caisse.departements = DEPARTEMENT
    db.session.commit()
    w.agent2 = make.agent(w.caisse)
    w.other_agent = make.agent(w.other_caisse)
    w.other_technicien2 = make.technicien(w.other_partenaire)
    return w


@pytest.fixture
def new_demande(app):
    """new_demande(technicien, caisse, service="contact", urgent=False, **identity) → a committed Demande."""

    def _new(technicien, caisse, service="contact", *, urgent=False, **over):
        details = dict(DETAILS[service])
        if urgent:
            details["urgency_reason"] = "soins_imminents"
        data = dict(service=service, caisse_id=caisse.id, departement=DEPARTEMENT, details=details,
                    consent=service == "signalement", urgent=urgent, duplicate_confirmed=True, **PERSON)
        data.update(over)
        d = dm.create_demande(technicien, dm.DemandeInput(**data))
        commit()
        return d

    return _new
