"""Navigation by profile."""
from flask import has_request_context, request, url_for
from flask_login import current_user

from ep_web.models import Profile

_NAV = {
    Profile.TECHNICIEN: [("main.index", "Accueil")],
    Profile.GESTIONNAIRE: [
        ("gestion.index", "Techniciens"),
        ("gestion.requests", "Demandes à la caisse"),
        ("gestion.habilitations", "Habilitations"),
    ],
    Profile.AGENT: [("main.index", "Accueil")],
    Profile.ADMIN_CAISSE: [
        ("caisse.partenaires", "Partenaires"),
        ("caisse.requests", "Demandes des partenaires"),
        ("caisse.agents", "Agents"),
        ("caisse.audit", "Journal"),
    ],
    Profile.ADMIN_NATIONAL: [("national.caisses", "Caisses"), ("national.audit", "Journal")],
}


def nav_items() -> list[dict]:
    if not has_request_context() or not current_user or not current_user.is_authenticated:
        return []
    items = []
    for endpoint, label in _NAV.get(current_user.profile, []):
        href = url_for(endpoint)
        items.append({"href": href, "label": label, "current": request.path == href or (
            href != "/" and request.path.startswith(href + "/"))})
    return items
