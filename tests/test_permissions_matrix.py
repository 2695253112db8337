"""Every route × every profile × an object of another structure or caisse:
403 or 404, never data (SPEC §8). Rules are read from the URL map, so a new
route is covered as soon as it exists."""
from datetime import timedelta

import pytest

from ep_web import create_app
from ep_web.extensions import db
from ep_web.models import (
    GestionnaireRequest,
    HabilitationReview,
    RequestKind,
    ReviewItem,
)
from tests.conftest import PASSWORD

PROFILES = ["anonymous", "technicien", "gestionnaire", "agent", "admin_caisse", "admin_national"]
AREA = {"national": {"admin_national"}, "caisse": {"admin_caisse"}, "gestion": {"gestionnaire"}}
# Issue 5: one blueprint per side for tickets and news; maintenance is national.
AREA.update({"tickets": {"technicien", "gestionnaire"}, "caisse_tickets": {"admin_caisse"},
             "national_tickets": {"admin_national"}, "news": {"technicien", "gestionnaire"},
             "caisse_news": {"admin_caisse"}, "maintenance": {"admin_national"}})
# Issue 3: the caisse processing queue is for agents only.
AREA["traitement"] = {"agent"}
# Issue 3: the partner's demandes (forms, history, demande pages) are for techniciens only.
AREA["demandes"] = {"technicien"}
PUBLIC_ENDPOINTS = {"static", "auth.login", "auth.forgot", "auth.activate", "auth.reset", "auth.cgu_text",
                    "auth.logout"}
# Pages any logged-in profile may use on its own account.
ANY_PROFILE = {"main.index", "auth.cgu", "auth.change_password"}


def _rules():
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    out = []
    for rule in app.url_map.iter_rules():
        # ops.*: the probes answer anyone (they say nothing); /metrics has a guard of
        # its own (token, or this machine only), tested in tests/test_ops.py.
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint.startswith(("errors.", "ops.")):
            continue
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            out.append(pytest.param(rule.rule, rule.endpoint, method, sorted(rule.arguments),
                                    id=f"{method} {rule.rule}"))
    return out


@pytest.fixture
def world(make, clock):
    w = make.world()
    w.other_agent = make.agent(w.other_caisse)
    w.convention = w.partenaire.conventions[0]
    w.other_convention = w.other_partenaire.conventions[0]
    today = clock.now().date()
    w.other_request = GestionnaireRequest(partenaire_id=w.other_partenaire.id, caisse_id=w.other_caisse.id,
                                          kind=RequestKind.CREATION, payload={"nom": "Secretnom"},
                                          requested_by_id=w.other_gestionnaire.id, deadline=today)
    review = HabilitationReview(partenaire_id=w.other_partenaire.id, caisse_id=w.other_caisse.id,
                                opened_by_id=w.other_admin.id, deadline=today + timedelta(days=10))
    db.session.add_all([w.other_request, review])
    db.session.flush()
    w.other_item = ReviewItem(review_id=review.id, account_id=w.other_technicien.id)
    db.session.add(w.other_item)
    db.session.commit()
    return w


def _foreign_ids(w, endpoint):
    """Every id parameter pointing at another caisse's / structure's object."""
    account = w.other_technicien
    if endpoint.startswith("national."):
        account = w.other_admin
    elif "agent" in endpoint:
        account = w.other_agent
    elif "gestionnaire" in endpoint:
        account = w.other_gestionnaire
    return {
        "partenaire_id": w.other_partenaire.id,
        "account_id": account.id,
        "convention_id": w.other_convention.id,
        "request_id": w.other_request.id,
        "item_id": w.other_item.id,
        "caisse_id": w.other_caisse.id,
    }


def _own_container_ids(w):
    """The container is the user's own (its partner, its caisse), the leaf is foreign."""
    return {"partenaire_id": w.partenaire.id, "caisse_id": w.caisse.id, "convention_id": w.other_convention.id}


SECRETS = lambda w: [w.other_partenaire.name, w.other_technicien.email, w.other_gestionnaire.email,  # noqa: E731
                     w.other_admin.email, w.other_agent.email, "Secretnom"]


def _client_for(app, w, profile):
    client = app.test_client()
    if profile == "anonymous":
        return client
    account = {"technicien": w.technicien, "gestionnaire": w.gestionnaire, "agent": w.agent,
               "admin_caisse": w.admin, "admin_national": w.national}[profile]
    resp = client.post("/connexion", data={"login": account.login, "password": PASSWORD})
    assert resp.status_code == 302 and "/connexion" not in resp.headers["Location"]
    return client


def _call(client, method, url):
    return client.get(url) if method == "GET" else client.post(url, data={})


RULES = _rules()


@pytest.mark.parametrize("profile", PROFILES)
def test_route_permissions(app, world, profile):
    """One profile against every rule; all failures are reported together."""
    w = world
    client = _client_for(app, w, profile)
    failures = []
    for rule, endpoint, method, args in (p.values for p in RULES):
        failures += _check(client, w, profile, rule, endpoint, method, args)
    assert not failures, "\n".join(failures)


def test_matrix_covers_every_area():
    endpoints = {p.values[1] for p in RULES}
    for area in ("national.", "caisse.", "gestion.", "main."):
        assert any(e.startswith(area) for e in endpoints), area


def _check(client, w, profile, rule, endpoint, method, args):
    area = endpoint.split(".")[0]
    allowed = AREA.get(area, {"technicien", "gestionnaire", "agent", "admin_caisse", "admin_national"})
    id_args = [a for a in args if a.endswith("_id")]
    variants = [_foreign_ids(w, endpoint)]
    # The national admin sees every caisse: only the mixed variant is foreign to it.
    if profile == "admin_national" and area == "national":
        variants = []
    if len(id_args) > 1:
        variants.append({**_foreign_ids(w, endpoint), **_own_container_ids(w)})
    if not id_args:
        variants = [{}]
    failures = []
    for ids in variants:
        url = rule
        for a in args:
            url = url.replace(f"<int:{a}>", str(ids.get(a, 1)))
        url = url.replace("<service>", "contact")  # the demande form of one service
        if ".<any(" in url:  # the export format converter: take csv
            url = url.split(".<")[0] + ".csv"
        resp = _call(client, method, url)
        body = resp.get_data(as_text=True)
        where = f"{profile} {method} {url} → {resp.status_code}"
        if profile == "anonymous":
            if not (resp.status_code == 302 and "/connexion" in resp.headers.get("Location", "")):
                failures.append(where)
            continue
        if profile not in allowed and endpoint not in ANY_PROFILE:
            ok = resp.status_code in (403, 404)
        elif id_args:
            ok = resp.status_code in (403, 404)
        else:
            ok = resp.status_code not in (403, 404, 500)
        if not ok:
            failures.append(where)
        if resp.status_code in (403, 404):
            failures += [f"{where} leaks {s!r}" for s in SECRETS(w) if s in body]
    return failures
