"""News (SPEC §6): the caisse's referent publishes, partner users of structures
conventioned (in force) with that caisse read — never another caisse's or
structure's —, Markdown is rendered inert, the digest is sent once."""
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ep_web.domain import news as domain
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.models import ConventionState, News, NewsRead, PartenaireType
from ep_web.permissions import can_read_news
from ep_web.transaction import commit


@pytest.fixture
def world(make):
    return make.world()


def _news(w, admin=None, title="Nouvelle permanence", body="Une **permanence** le mardi.", delay=None,
          targets=(), clock=None):
    n = domain.create_news(admin or w.admin, title=title, body=body,
                           publish_at=clock.now() + (delay or timedelta(0)), target_types=targets)
    commit()
    return n


# ---------------------------------------------------------------- Markdown

HOSTILE = [
    "<script>alert(1)</script>",
    "[clic](javascript:alert(1))",
    "[clic](JaVaScRiPt:alert(1))",
    "[clic](  javascript:alert(1))",
    "[clic](&#106;avascript:alert(1))",
    "<javascript:alert(1)>",
    '<a href="javascript:alert(1)">clic</a>',
    "<img src=x onerror=alert(1)>",
    "[clic](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[clic](vbscript:msgbox(1))",
    '<iframe src="https://evil.example"></iframe>',
    "<svg onload=alert(1)>",
    '[x](https://ok.example "titre" onclick=alert(1))',
]


class _Elements(HTMLParser):
    """The real elements of an HTML fragment (escaped text is not an element)."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.elements = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def _assert_inert(html: str) -> None:
    for tag, attrs in _Elements(html).elements:
        assert tag not in ("script", "iframe", "svg", "img", "object", "embed", "style"), tag
        for name in attrs:
            assert not name.startswith("on") and name != "style", (tag, name)
        if tag == "a":
            href = (attrs.get("href") or "").strip().lower()
            assert href.startswith(("http://", "https://", "mailto:", "/", "#")) or not href, href
            assert attrs.get("rel") == "noopener noreferrer"


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markdown_comes_out_inert(source):
    _assert_inert(domain.render_markdown(source))


def test_markdown_renders_and_links_get_rel():
    html = domain.render_markdown("# Titre\n\nVoir **le site** [ameli](https://www.ameli.fr) et "
                                  "[écrire](mailto:contact@caisse.example).\n\n- un\n- deux\n\n![affiche](https://x.example/a.png)")
    assert "<h2>Titre</h2>" in html  # the page's <h1> is the news title
    assert domain.render_markdown("## A\n\n### B\n\n## C").split() == ["<h2>A</h2>", "<h3>B</h3>", "<h2>C</h2>"]
    assert '<a href="https://www.ameli.fr" rel="noopener noreferrer">ameli</a>' in html
    assert 'href="mailto:contact@caisse.example"' in html
    assert "<strong>le site</strong>" in html and "<li>un</li>" in html
    assert "affiche" in html and "<img" not in html
    assert "&lt;script&gt;" in domain.render_markdown("<script>x</script>")  # shown as text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(HOSTILE + ["texte", "**gras**", "[a](https://a.example)", "\n\n", "<", ">", "(", ")",
                                           "[", "]", "javascript:", '"', "'", "`", " "]), max_size=12),
       st.text(max_size=30))
def test_any_mix_comes_out_inert(parts, noise):
    _assert_inert(domain.render_markdown("".join(parts) + noise))


# ---------------------------------------------------------------- writing

def test_only_the_caisse_referent_publishes(world, clock):
    for actor in (world.technicien, world.gestionnaire, world.agent, world.national):
        with pytest.raises(NotAllowed):
            domain.create_news(actor, title="T", body="B", publish_at=clock.now())
    n = _news(world, clock=clock)
    with pytest.raises(NotAllowed):
        domain.update_news(world.other_admin, n, title="X", body="Y", publish_at=clock.now())
    with pytest.raises(NotAllowed):
        domain.delete_news(world.other_admin, n)


def test_news_rules(world, clock):
    with pytest.raises(DomainError) as exc:
        domain.create_news(world.admin, title=" ", body="B", publish_at=clock.now())
    assert exc.value.field == "title"
    with pytest.raises(DomainError) as exc:
        domain.create_news(world.admin, title="T", body="B", publish_at=clock.now(), target_types=["martiens"])
    assert exc.value.field == "target_types"
    with pytest.raises(DomainError) as exc:
        domain.create_news(world.admin, title="T", body="Appelez pour 1 85 05 78 006 084 36", publish_at=clock.now())
    assert exc.value.field == "body" and "NIR" in exc.value.message


@pytest.mark.parametrize("who", ["technicien", "gestionnaire", "agent", "national"])
def test_routes_refuse_publishing_to_non_referents(app, world, login, who):
    c = login(getattr(world, who))
    assert c.get("/caisse/actualites/nouvelle").status_code == 403
    resp = c.post("/caisse/actualites/nouvelle",
                  data={"title": "Piratage", "body": "x", "publish_at": "2026-03-02T10:00"})
    assert resp.status_code == 403
    assert db.session.scalar(db.select(db.func.count(News.id))) == 0


def test_referent_publishes_through_the_form(app, world, login, clock):
    c = login(world.admin)
    resp = c.post("/caisse/actualites/nouvelle", data={
        "title": "Fermeture exceptionnelle", "body": "L'accueil est **fermé** lundi. [Infos](javascript:alert(1))",
        "publish_at": "2026-03-02T10:30", "target_types": ["ccas", "ase"]})
    assert resp.status_code == 303
    n = db.session.scalars(db.select(News)).one()
    assert n.caisse_id == world.caisse.id and n.target_types == ["ccas", "ase"]
    assert n.publish_at == clock.now().replace(hour=9, minute=30)  # 10:30 Paris = 09:30 UTC in March
    assert "<strong>fermé</strong>" in n.body_html and "javascript:alert" not in n.body_html.split("[Infos]")[0]
    _assert_inert(n.body_html)
    page = c.get(f"/caisse/actualites/{n.id}").get_data(as_text=True)
    assert "Fermeture exceptionnelle" in page
    # Errors keep what was typed.
    resp = c.post("/caisse/actualites/nouvelle", data={"title": "", "body": "Texte gardé", "publish_at": "hier"})
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert "Texte gardé" in body and "Date et heure invalides" in body and 'aria-invalid="true"' in body


def test_other_caisse_referent_never_sees_the_news(app, world, login, clock):
    n = _news(world, title="Secret de la caisse A", clock=clock)
    c = login(world.other_admin)
    assert "Secret de la caisse A" not in c.get("/caisse/actualites").get_data(as_text=True)
    assert c.get(f"/caisse/actualites/{n.id}").status_code == 404
    assert c.get(f"/caisse/actualites/{n.id}/modifier").status_code == 404
    assert c.post(f"/caisse/actualites/{n.id}/modifier", data={"title": "X", "body": "Y",
                                                              "publish_at": "2026-03-02T10:00"}).status_code == 404
    assert c.post(f"/caisse/actualites/{n.id}/supprimer").status_code == 404
    assert db.session.get(News, n.id).title == "Secret de la caisse A"


def test_referent_edits_and_deletes(app, world, login, clock):
    n = _news(world, clock=clock)
    c = login(world.admin)
    resp = c.post(f"/caisse/actualites/{n.id}/modifier", data={"title": "Corrigée", "body": "Nouveau *texte*",
                                                              "publish_at": "2026-03-02T10:00"})
    assert resp.status_code == 303
    db.session.refresh(n)
    assert n.title == "Corrigée" and "<em>texte</em>" in n.body_html
    assert c.post(f"/caisse/actualites/{n.id}/supprimer", data={"confirmed": "1"}).status_code == 303
    assert db.session.get(News, n.id) is None


# ---------------------------------------------------------------- reading

def test_partner_reads_published_news_of_its_caisses_only(app, world, make, login, clock):
    mine = _news(world, title="Actu caisse A", clock=clock)
    later = _news(world, title="Actu programmée", delay=timedelta(days=2), clock=clock)
    other = _news(world, admin=world.other_admin, title="Actu caisse B", clock=clock)
    c = login(world.technicien)
    page = c.get("/actualites").get_data(as_text=True)
    assert "Actu caisse A" in page and "Actu programmée" not in page and "Actu caisse B" not in page
    assert c.get(f"/actualites/{other.id}").status_code == 404
    assert c.get(f"/actualites/{later.id}").status_code == 404
    assert c.get(f"/actualites/{mine.id}").status_code == 200
    clock.advance(days=2)
    c = login(world.technicien, c=app.test_client())
    assert c.get(f"/actualites/{later.id}").status_code == 200
    # The other caisse's partner sees the other news only.
    c2 = login(world.other_gestionnaire, c=app.test_client())
    page = c2.get("/actualites").get_data(as_text=True)
    assert "Actu caisse B" in page and "Actu caisse A" not in page
    assert c2.get(f"/actualites/{mine.id}").status_code == 404


def test_caisse_users_do_not_use_the_partner_pages(app, world, login, clock):
    _news(world, clock=clock)
    for who in ("admin", "agent", "national"):
        c = login(getattr(world, who), c=app.test_client())
        assert c.get("/actualites").status_code == 403


def test_target_types_and_conventions_in_force(app, world, make, login, clock):
    ase = make.partenaire(world.caisse, type=PartenaireType.ASE)
    ase_tech = make.technicien(ase)
    n_ase = _news(world, title="Pour l'ASE", targets=["ase"], clock=clock)
    n_all = _news(world, title="Pour tous", clock=clock)
    assert can_read_news(ase_tech, n_ase) and can_read_news(ase_tech, n_all)
    assert not can_read_news(world.technicien, n_ase)  # a CCAS
    assert [n for n, _ in domain.news_for_partner(world.technicien)] == [n_all]
    # A structure whose convention ended no longer reads the caisse's news.
    conv = world.partenaire.conventions[0]
    conv.state = ConventionState.TERMINEE
    db.session.commit()
    assert not can_read_news(world.technicien, n_all)
    assert domain.news_for_partner(world.technicien) == []
    c = login(world.technicien)
    assert c.get(f"/actualites/{n_all.id}").status_code == 404


def test_opening_a_news_marks_it_read_for_that_user_only(app, world, login, clock):
    n = _news(world, title="À lire", clock=clock)
    c = login(world.technicien)
    page = c.get("/actualites").get_data(as_text=True)
    assert "1 non lue" in page and "Non lue" in page
    assert c.get(f"/actualites/{n.id}").status_code == 200
    assert c.get(f"/actualites/{n.id}").status_code == 200  # a second visit adds nothing
    assert db.session.scalar(db.select(db.func.count(NewsRead.id))) == 1
    page = c.get("/actualites").get_data(as_text=True)
    assert "non lue" not in page.lower().replace("(non lue)", "")
    assert [read for _, read in domain.news_for_partner(world.gestionnaire)] == [False]  # read by its reader only
    with pytest.raises(NotAllowed):
        domain.mark_read(world.other_technicien, n)


# ---------------------------------------------------------------- digest

def test_digest_subscription_and_idempotent_job(app, world, make, login, clock, outbox):
    ase = make.partenaire(world.caisse, type=PartenaireType.ASE)
    ase_tech = make.technicien(ase)
    c = login(world.technicien)
    assert c.post("/actualites/abonnement", data={"subscribe": "1"}).status_code == 303
    db.session.refresh(world.technicien)
    assert world.technicien.news_digest is True
    for account in (world.other_technicien, ase_tech):
        domain.set_digest(account, True)
    commit()
    old = _news(world, title="Avant l'abonnement", delay=timedelta(minutes=-1), clock=clock)  # noqa: F841
    clock.advance(hours=1)
    _news(world, title="Pour l'ASE seulement", targets=["ase"], clock=clock)
    _news(world, title="Réunion des partenaires", clock=clock)
    _news(world, admin=world.other_admin, title="Actu de l'autre caisse", clock=clock)
    _news(world, title="Pas encore publiée", delay=timedelta(days=30), clock=clock)

    clock.advance(days=7)
    assert domain.send_news_digests() == {"digests": 3}
    commit()
    mails = {m.to: m for m in outbox()}
    tech_mail = mails[world.technicien.email]
    assert "Réunion des partenaires" in tech_mail.body_text
    assert "Pour l'ASE seulement" not in tech_mail.body_text
    assert "Actu de l'autre caisse" not in tech_mail.body_text and "Pas encore publiée" not in tech_mail.body_text
    assert "Avant l'abonnement" not in tech_mail.body_text
    assert "http://ep.test/actualites/" in tech_mail.body_text
    assert "Pour l'ASE seulement" in mails[ase_tech.email].body_text
    assert "Actu de l'autre caisse" in mails[world.other_technicien.email].body_text
    assert world.gestionnaire.email not in mails  # not subscribed

    # Idempotent: a second run (now, or tomorrow) sends nothing more.
    assert domain.send_news_digests() == {"digests": 0}
    clock.advance(days=1)
    _news(world, title="Encore une", clock=clock)
    assert domain.send_news_digests() == {"digests": 0}  # at most one digest a week
    clock.advance(days=7)
    assert domain.send_news_digests() == {"digests": 2}
    commit()
    assert "Encore une" in outbox(world.technicien.email)[-1].body_text

    # Unsubscribed: nothing.
    c = login(world.technicien, c=app.test_client())
    assert c.post("/actualites/abonnement", data={"subscribe": "0"}).status_code == 303
    clock.advance(days=7)
    _news(world, title="Après désabonnement", clock=clock)
    clock.advance(days=7)
    commit()
    before = len(outbox(world.technicien.email))
    domain.send_news_digests()
    commit()
    assert len(outbox(world.technicien.email)) == before


def test_digest_job_is_registered_and_journaled(app, world, clock, outbox):
    from workers.periodic import JOBS

    assert "send_news_digests" in JOBS
    domain.set_digest(world.technicien, True)
    commit()
    clock.advance(days=1)
    _news(world, clock=clock)
    clock.advance(days=7)
    JOBS["send_news_digests"]()
    assert len(outbox(world.technicien.email)) == 1
    JOBS["send_news_digests"]()
    assert len(outbox(world.technicien.email)) == 1


def test_refusals_come_back_with_the_domains_message(app, world, login, clock):
    c = login(world.admin)
    nir = "1 85 05 78 006 084 36"
    resp = c.post("/caisse/actualites/nouvelle", data={"title": "Permanence", "body": f"Appelez pour {nir}",
                                                      "publish_at": "2026-03-02T10:00"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert 'id="body-error"' in page and "numéro de sécurité sociale (NIR)" in page
    assert 'value="Permanence"' in page  # what was typed is kept
    assert db.session.scalar(db.select(db.func.count(News.id))) == 0
    # A subscription choice the page never offers is refused with a French message.
    t = login(world.technicien, c=app.test_client())
    resp = t.post("/actualites/abonnement", data={"subscribe": "2"})
    assert resp.status_code == 422
    assert "Choix d&#39;abonnement non compris : recommencez." in resp.get_data(as_text=True)
    db.session.refresh(world.technicien)
    assert not world.technicien.news_digest


def test_news_loaders(app, world, login, clock):
    """The read check and the referent's loader live in ep_web.permissions.news."""
    from ep_web.permissions import can_manage_news

    n = _news(world, clock=clock)
    assert can_manage_news(world.admin, n) and not can_manage_news(world.other_admin, n)
    assert not can_manage_news(world.technicien, n)
    assert can_read_news(world.technicien, n) and not can_read_news(world.admin, n)
    assert login(world.admin).get("/caisse/actualites/999999").status_code == 404
