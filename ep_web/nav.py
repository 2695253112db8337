"""Navigation by profile."""
from collections.abc import Callable
from urllib.parse import urlencode

from flask import has_request_context, request, url_for
from flask_login import current_user

from ep_web.models import Profile

_NAV = {
    Profile.TECHNICIEN: [
        ("main.index", "À traiter"),
        ("demandes.new", "Nouvelle demande"),
        ("demandes.index", "Historique"),
        ("demandes.draft_list", "Mes brouillons"),
    ],
    Profile.GESTIONNAIRE: [
        ("main.index", "À traiter"),
        ("gestion.index", "Techniciens"),
        ("gestion.requests", "Demandes à la caisse"),
        ("gestion.habilitations", "Habilitations"),
        ("indicateurs.index", "Indicateurs"),
    ],
    Profile.AGENT: [("main.index", "À traiter"), ("traitement.index", "File des demandes")],
    Profile.ADMIN_CAISSE: [
        ("main.index", "À traiter"),
        ("caisse.partenaires", "Partenaires"),
        ("caisse.requests", "Demandes des partenaires"),
        ("caisse.agents", "Agents"),
        ("indicateurs.index", "Indicateurs"),
        ("caisse.audit", "Journal"),
    ],
    Profile.ADMIN_NATIONAL: [
        ("main.index", "À traiter"),
        ("national.caisses", "Caisses"),
        ("indicateurs.index", "Indicateurs"),
        ("national.audit", "Journal"),
        ("national.jobs", "Tâches"),
    ],
}


# Support pages (SPEC §5, §6): tickets, news, maintenance, after each profile's own entries.
_NAV_SUPPORT = {
    Profile.TECHNICIEN: [("news.index", "Actualités"), ("ressources.index", "Ressources"),
                         ("tickets.index", "Signaler un problème")],
    Profile.GESTIONNAIRE: [("news.index", "Actualités"), ("ressources.index", "Ressources"),
                           ("tickets.index", "Signaler un problème")],
    Profile.AGENT: [("ressources.index", "Ressources")],
    Profile.ADMIN_CAISSE: [("caisse_tickets.index", "Tickets"), ("caisse_news.index", "Actualités"),
                           ("ressources.index", "Ressources")],
    Profile.ADMIN_NATIONAL: [("national_tickets.index", "Tickets escaladés"), ("maintenance.index", "Maintenance"),
                             ("ressources.index", "Ressources")],
}
for _profile, _entries in _NAV_SUPPORT.items():
    _NAV.setdefault(_profile, []).extend(_entries)


_URLS: dict = {}


def endpoint_url(endpoint: str, **values) -> str:
    """``url_for``, remembered per process for an endpoint without values
    (its address depends only on the URL map and the mount point): the
    layout's links and the menu ask for the same dozen addresses on every
    page. The templates' ``url_for`` (ep_web/__init__.py)."""
    if values or endpoint.startswith(".") or not has_request_context():
        return url_for(endpoint, **values)
    key = (endpoint, request.script_root)
    url = _URLS.get(key)
    if url is None:
        url = _URLS[key] = url_for(endpoint)
    return url


_SLOT_MARKERS = (1_000_000_000, 2_000_000_000)  # same length, first digit apart; valid ids (ep_web.inputs)


def url_slot(endpoint: str, name: str, values) -> Callable[[object], str]:
    """``lambda x: url_for(endpoint, **dict(values, name=x))``, with url_for
    called twice in all instead of once per link: a table's 50 row links or
    pagination's 50 pages differ by one value. The two calls, with two markers
    of the same length, differ exactly where that value is written: the text
    around it is kept (whatever else the values hold). For values written as
    they are (ids, page numbers)."""
    built = [url_for(endpoint, **dict(values, **{name: marker})) for marker in _SLOT_MARKERS]
    start = next((i for i, (a, b) in enumerate(zip(*built)) if a != b), None)
    if start is None:  # the value is not written: nothing to put in
        return lambda value: built[0]
    head, tail = built[0][:start], built[0][start + len(str(_SLOT_MARKERS[0])):]
    return lambda value: f"{head}{value}{tail}"


def query_url(endpoint: str, args: dict) -> str:
    """The address of an argument-less endpoint with ``args`` as its query
    string, written as ``url_for`` writes it (werkzeug's encoding; empty
    values dropped) — but every key is a query parameter. The lists rebuild
    their links from what was typed, and ``url_for`` takes ``_method``,
    ``_anchor``, ``_scheme``… for itself (``?_method=POST`` was a 500). A
    quarter of url_for's cost, too: the queue writes twenty such links."""
    query = urlencode([(k, v) for k, v in args.items() if v is not None], safe="!$'()*,/:;?@")
    url = endpoint_url(endpoint)
    return f"{url}?{query}" if query else url


def page_urls(endpoint: str, args: dict, first: str = "numbered"):
    """``page -> query_url(endpoint, {**args, "page": page})`` for the
    pagination of a list, its query string written once per request (the
    links of a pagination differ by their page only). ``args`` holds no page;
    ``first="bare"``: page 1 is the address without a page."""
    base = query_url(endpoint, args)
    head = base + ("&page=" if "?" in base else "?page=")

    def url(page: int) -> str:
        if first == "bare" and page <= 1:
            return base
        return f"{head}{int(page)}"

    return url


def nav_items() -> list[dict]:
    if not has_request_context() or not current_user or not current_user.is_authenticated:
        return []
    items = []
    for endpoint, label in _NAV.get(current_user.profile, []):
        href = endpoint_url(endpoint)
        items.append({"href": href, "label": label, "current": request.path == href or (
            href != "/" and request.path.startswith(href + "/"))})
    # Nested entries (/demandes and /demandes/nouvelle): only the closest one is current.
    current = [i for i in items if i["current"]]
    if len(current) > 1:
        best = max(current, key=lambda i: len(i["href"]))
        for i in current:
            i["current"] = i is best
    return items
