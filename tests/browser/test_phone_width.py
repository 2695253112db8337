"""Every page fits a phone (issue 13 §4): at 390 px wide, the tickets pages,
the agent's traitement pages (the queue and each of its tabs, a demande), the
national pages and the indicators/ressources pages do not scroll sideways —
wide tables scroll inside their DSFR ``fr-table`` wrapper (or are cards), long
references, names and e-mails wrap — and axe-core finds no violation at all
on them (any impact). Each profile visits its own pages, seeded with long
names and addresses, some of every kind of row."""
from datetime import timedelta

import pytest

from ep_web.clock import now, today
from ep_web.domain import demandes as dm
from ep_web.domain import maintenance, resources, tickets
from ep_web.models import AccountStatus
from ep_web.transaction import commit
from tests.plugins.browser import axe_violations, format_violations, log_in
from tests.traitement.conftest import DETAILS

pytestmark = pytest.mark.browser
WIDTH = 390
ALL_IMPACTS = ("minor", "moderate", "serious", "critical")
LONG_STRUCTURE = "Centre communal d'action sociale intercommunal de Valmont-sur-Essai-et-Saint-Barthélemy-des-Prés"
LONG_CAISSE = "Caisse primaire d'assurance maladie de Valmont-sur-Essai-et-Saint-Barthélemy"
LONG_DOMAIN = "ccas-intercommunal-valmont-sur-essai-et-saint-barthelemy.example"

# Which element sticks out, for the failure message: the outermost ones past
# the right edge that are not inside a box scrolling on its own.
_OVERFLOWING = """(width) => {
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right <= width + 0.5 || r.width === 0) continue;
    let p = el.parentElement, clipped = false, parentOut = false;
    while (p && p !== document.body) {
      const s = getComputedStyle(p);
      if (['auto', 'scroll', 'hidden', 'clip'].includes(s.overflowX)) { clipped = true; break; }
      if (p.getBoundingClientRect().right > width + 0.5) { parentOut = true; }
      p = p.parentElement;
    }
    if (clipped || parentOut) continue;
    const id = el.id ? '#' + el.id : '';
    const names = typeof el.className === 'string' ? el.className.trim() : '';
    const cls = names ? '.' + names.split(/\\s+/).join('.') : '';
    const text = (el.innerText || '').slice(0, 60);
    out.push(`${el.tagName.toLowerCase()}${id}${cls} (${Math.round(r.right)} px): ${text}`);
  }
  return out.slice(0, 8);
}"""


def _seed(live_server):
    with live_server.seed() as make:
        make.cgu()
        caisse = make.caisse(name=LONG_CAISSE, departements="974", referent_email=f"referent.partenaires@{LONG_DOMAIN}")
        p = make.partenaire(caisse, name=LONG_STRUCTURE, email_domains=LONG_DOMAIN,
                            address="12 avenue du Général-de-Gaulle-et-de-la-Libération, 97400 Saint-Denis")
        gestionnaire = make.gestionnaire(p, nom="Delacroix-Montfort-Aubert", prenom="Marie-Antoinette",
                                         email=f"marie-antoinette.delacroix-montfort-aubert@{LONG_DOMAIN}")
        tech = make.technicien(p, manager_id=gestionnaire.id, nom="Bernier-Lefebvre-Saint-Hilaire",
                               prenom="Jean-Christophe",
                               email=f"jean-christophe.bernier-lefebvre-saint-hilaire@{LONG_DOMAIN}")
        agent = make.agent(caisse, nom="Chevalier-Dumont", prenom="Anne-Sophie")
        admin = make.admin_caisse(caisse, email=f"anne-laure.referente-partenaires@{LONG_DOMAIN}")
        pending = make.admin_caisse(caisse, status=AccountStatus.PENDING, nom="Attente", prenom="Référente")
        national = make.admin_national()
        make.caisse(name="CPAM sans référent actif, une caisse au nom lui aussi très long pour la démonstration")

        made = []
        for i, service in enumerate(("signalement", "contact", "etude_dossier", "rendez_vous", "document",
                                     "suivi_ame", "contact")):
            details = dict(DETAILS[service], **({"urgency_reason": "soins_imminents"} if i == 1 else {}))
            made.append(dm.create_demande(tech, dm.DemandeInput(
                service=service, caisse_id=caisse.id, departement="974", details=details,
                civilite="Mme", nom=f"Quenouillard-Montmorency-{'ABCDEFG'[i]}", prenom="Hortensia-Philippine",
                date_naissance=now().date().replace(year=1957), consent=service == "signalement",
                urgent=i == 1, duplicate_confirmed=True)))
        commit()
        dm.take(agent, made[0])
        dm.request_complement(agent, made[0], "Merci de joindre l'attestation de la caisse de retraite complémentaire.")
        dm.partner_reply(tech, made[0], "Voici l'attestation demandée, transmise par la personne ce matin.")
        dm.take(agent, made[2])
        dm.caisse_reply(agent, made[2], "Le dossier est complet : la décision sera envoyée par courrier.")
        commit()

        t1 = tickets.open_ticket(tech, caisse_id=caisse.id, subject="Le bouton Envoyer ne répond pas sur le "
                                 "formulaire de demande de rendez-vous au guichet",
                                 description="Après avoir rempli tous les champs, rien ne se passe.",
                                 area="demandes", page_detail="formulaire de rendez-vous")
        t2 = tickets.open_ticket(tech, caisse_id=caisse.id, subject="Export impossible",
                                 description="L'export CSV des habilitations renvoie une erreur.", area="autre")
        commit()
        tickets.reply(admin, t1, "Merci, un correctif est prévu : en attendant, videz le cache du navigateur.")
        tickets.escalate(admin, t2)
        tickets.reply(national, t2, "Nous regardons.")
        commit()

        res = resources.publish(admin, title="Guide pratique du signalement de renoncement aux soins — édition "
                                "complète", description="Toutes les étapes, de la détection à la clôture.",
                                category="guide", url=f"https://documentation.{LONG_DOMAIN}/guides/signalement"
                                "-renoncement-aux-soins-edition-complete.pdf", version="2026.1",
                                published_on=today())
        resources.publish(national, title="Plaquette nationale", description="Pour l'accueil.",
                          category="communication", url="https://www.ameli.example/plaquette", version="1",
                          published_on=today())
        start = (now() + timedelta(days=3)).replace(second=0, microsecond=0)
        maintenance.schedule(national, start, start + timedelta(hours=2),
                             "Mise à jour de la base de données : le portail sera indisponible deux heures.")
        commit()
        convention_id = p.conventions[0].id if getattr(p, "conventions", None) else None
        if convention_id is None:
            from ep_web.extensions import db
            from ep_web.models import Convention

            convention_id = db.session.scalar(db.select(Convention.id).where(Convention.partenaire_id == p.id))
        return dict(
            technicien=tech.login, gestionnaire=gestionnaire.login, agent=agent.login, admin=admin.login,
            national=national.login, caisse=caisse.id, pending=pending.id, demande=made[0].id,
            replied=made[2].id, t1=t1.id, t2=t2.id, resource=res.id, convention=convention_id,
        )


def _pages(profile: str, ids: dict) -> list[str]:
    if profile == "technicien":
        return ["/tickets", "/tickets/nouveau", f"/tickets/{ids['t1']}", f"/tickets/{ids['t2']}",
                "/ressources", f"/ressources/{ids['resource']}"]
    if profile == "gestionnaire":
        return ["/tickets", f"/tickets/{ids['t1']}", "/indicateurs", f"/indicateurs/conventions/{ids['convention']}",
                "/indicateurs/statistiques", "/ressources"]
    if profile == "agent":
        from ep_web.domain.home import AGENT_TABS

        return (["/traitement"] + [f"/traitement?onglet={tab}" for tab in AGENT_TABS]
                + [f"/traitement/demandes/{ids['demande']}", f"/traitement/demandes/{ids['replied']}",
                   "/ressources", f"/ressources/{ids['resource']}"])
    if profile == "admin":
        return ["/caisse/tickets", f"/caisse/tickets/{ids['t1']}", f"/caisse/tickets/{ids['t2']}",
                "/indicateurs", f"/indicateurs/conventions/{ids['convention']}", "/indicateurs/statistiques",
                "/ressources", f"/ressources/{ids['resource']}", "/ressources/gestion", "/ressources/gestion/nouvelle",
                f"/ressources/gestion/{ids['resource']}/version"]
    assert profile == "national"
    c = ids["caisse"]
    return ["/", "/national/caisses", f"/national/caisses/{c}", f"/national/caisses/{c}/modifier",
            "/national/caisses/nouvelle", f"/national/caisses/{c}/referents/nouveau",
            f"/national/caisses/{c}/referents/{ids['pending']}/inactiver", "/national/journal",
            "/national/maintenance", "/national/taches", "/national/tickets", f"/national/tickets/{ids['t2']}",
            "/ressources", "/ressources/gestion", "/indicateurs", "/indicateurs/statistiques"]


@pytest.mark.parametrize("profile", ["technicien", "gestionnaire", "agent", "admin", "national"])
def test_every_page_fits_a_phone(page, live_server, profile, screenshot):
    ids = _seed(live_server)
    page.set_viewport_size({"width": WIDTH, "height": 844})
    log_in(page, ids[profile])
    problems = []
    for path in _pages(profile, ids):
        response = page.goto(path)
        page.wait_for_load_state("load")
        if response is None or response.status != 200 or not page.url.endswith(path):
            problems.append(f"{path}: HTTP {response.status if response else '?'} ({page.url})")
            continue
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > WIDTH:
            culprits = "\n      ".join(page.evaluate(_OVERFLOWING, WIDTH))
            problems.append(f"{path} is {width} px wide at {WIDTH} px:\n      {culprits}")
        screenshot(page, f"phone-{profile}-{path.strip('/').replace('/', '-').replace('?', '-') or 'accueil'}")
        violations = axe_violations(page, impacts=ALL_IMPACTS)
        if violations:
            problems.append(f"axe-core on {path}:\n{format_violations(violations)}")
    assert not problems, "\n".join(problems)

    # The check itself sees a page that scrolls sideways, and names the culprit.
    page.evaluate("() => { const d = document.createElement('p'); d.id = 'ep-too-wide'; d.style.width = '900px';"
                  " d.textContent = 'x'; document.querySelector('main').appendChild(d); }")
    assert page.evaluate("document.documentElement.scrollWidth") > WIDTH
    assert any(c.startswith("p#ep-too-wide") for c in page.evaluate(_OVERFLOWING, WIDTH))
