"""Form data shared by the caisse area tests (fictitious people and structures)."""
from datetime import date


def partenaire_form(**overrides) -> dict:
    data = {
        "name": "CCAS de Villefictive",
        "siret": "",
        "address": "1 place de la Mairie\n74000 Villefictive",
        "type": "ccas",
        "members": "12",
        "email_domains": "ccas-villefictive.example",
        "referent_name": "Camille Exemple",
        "referent_email": "referent@ccas-villefictive.example",
        "dpo_name": "",
        "dpo_email": "",
        "parent_id": "",
        "signed_on": "2026-03-02",
        "ends_on": "",
        "services": ["contact", "signalement", "document"],
        "tacit_renewal": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def gestionnaire_form(prefix="g", **overrides) -> dict:
    data = {
        "civilite": "Mme",
        "nom": "Fictif",
        "prenom": "Alice",
        "fonction": "Responsable de l'action sociale",
        "telephone": "04 50 00 00 01",
        "email": "alice.fictif@ccas-villefictive.example",
    }
    data.update(overrides)
    return {f"{prefix}-{k}": v for k, v in data.items()}


def identity(**overrides) -> dict:
    data = {
        "civilite": "M.",
        "nom": "Demande",
        "prenom": "Bruno",
        "fonction": "Directeur",
        "telephone": "04 50 00 00 02",
        "email": "",
    }
    data.update(overrides)
    return data


MAY_7_2026 = date(2026, 5, 7)


def text(resp) -> str:
    """The page's visible text, tags stripped and spaces collapsed."""
    import html
    import re

    body = resp.get_data(as_text=True)
    body = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r"\s+", " ", html.unescape(body)).strip()


def partner_accounts(partenaire):
    from sqlalchemy import select

    from ep_web.extensions import db
    from ep_web.models import Account

    return db.session.scalars(select(Account).where(Account.partenaire_id == partenaire.id)).all()
