"""One quota view (SPEC §3): the caisse's list of partners, the partner's page
and the gestionnaire's counter read the same figures (quotas.Usage), and say
"quota atteint" at the same moment the quota check starts refusing."""
import re

from ep_web.domain import quotas
from ep_web.domain.accounts import inactivate
from ep_web.models import AccountStatus, Profile
from ep_web.transaction import commit
from tests.caisse.helpers import text


def _counter(resp) -> str:
    match = re.search(r'<p id="quota-counter"[^>]*>(.*?)</p>', resp.get_data(as_text=True), re.S)
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())


def _row(resp, name: str) -> str:
    return text(resp).split(name, 1)[1]


def test_the_caisse_and_the_gestionnaire_see_the_same_quota(app, make, login):
    caisse = make.caisse()
    p = make.partenaire(caisse, members=5, name="CCAS de Quotaville fictive")  # 2 gestionnaires, 5 techniciens
    admin = make.admin_caisse(caisse)
    g = make.gestionnaire(p)
    for _ in range(3):
        make.technicien(p)
    make.technicien(p, status=AccountStatus.PENDING)  # counts
    make.technicien(p, status=AccountStatus.INACTIVE)  # does not
    last = make.technicien(p)
    referent, gestionnaire = app.test_client(), app.test_client()
    login(admin, c=referent)
    login(g, c=gestionnaire)

    usage = quotas.usage(p, Profile.TECHNICIEN)
    assert (usage.used, usage.limit, usage.full, usage.left) == (5, 5, True, 0)
    row = _row(referent.get("/caisse/partenaires"), p.name)
    assert "gestionnaires 1 / 2 · techniciens 5 / 5" in row and "Quota atteint : techniciens" in row
    assert "techniciens 5 / 5" in text(referent.get(f"/caisse/partenaires/{p.id}"))
    counter = _counter(gestionnaire.get("/gestion/"))
    assert counter.startswith("Quota de la structure (5 membres) : 5 / 5 techniciens — quota atteint")

    inactivate(last, actor=g, reason="Départ")
    commit()
    usage = quotas.usage(p, Profile.TECHNICIEN)
    assert (usage.used, usage.full, usage.left) == (4, False, 1)
    row = _row(referent.get("/caisse/partenaires"), p.name)
    assert "techniciens 4 / 5" in row and "Quota atteint" not in row
    counter = _counter(gestionnaire.get("/gestion/"))
    assert counter.startswith("Quota de la structure (5 membres) : 4 / 5 techniciens") and "atteint" not in counter


def test_seats_of_several_partners_match_one_partner_at_a_time(make):
    caisse = make.caisse()
    small, large = make.partenaire(caisse, members=3), make.partenaire(caisse, members=40)
    make.gestionnaire(small)
    make.gestionnaire(small, status=AccountStatus.PENDING)
    make.technicien(small, status=AccountStatus.DELETED)
    for _ in range(3):
        make.technicien(large)
    seats = quotas.seats_by_partenaire([small, large])
    for p in (small, large):
        for profile, seat in ((Profile.GESTIONNAIRE, seats[p.id].gestionnaires),
                              (Profile.TECHNICIEN, seats[p.id].techniciens)):
            assert seat == quotas.usage(p, profile)
    assert (seats[small.id].gestionnaires.used, seats[small.id].gestionnaires.full) == (2, True)
    assert (seats[large.id].techniciens.used, seats[large.id].techniciens.limit) == (3, 25)
    assert quotas.seats_by_partenaire([]) == {}
