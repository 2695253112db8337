"""Fictitious demo data: no real person, e-mail or phone number."""
from datetime import timedelta

from sqlalchemy import select

from ep_web.clock import now, today
from ep_web.domain.passwords import hash_password
from ep_web.extensions import db
from ep_web.models import (
    Account,
    AccountStatus,
    Caisse,
    CguVersion,
    Convention,
    ConventionState,
    Partenaire,
    PartenaireType,
    PasswordHistory,
    Profile,
    Service,
)

DEMO_PASSWORD = "Demo-Partenaires-2026!"
# The demo accounts' second factor (published: demo only). `flask ep totp LOGIN`
# prints the current code, for a demo without a phone.
DEMO_TOTP_SECRET = "EPDEMOTOTPSECRETEPDEMOTOTPSECRET"

CGU_V1 = """Article 1 — Objet
L'Espace Partenaires permet aux structures partenaires de l'Assurance Maladie de saisir la caisse pour les personnes qu'elles accompagnent.

Article 2 — Engagements de l'utilisateur
Vous utilisez le service dans le seul cadre de votre mission d'accompagnement. Vous ne saisissez jamais le numéro de sécurité sociale (NIR) d'une personne dans les champs de texte : il ne peut figurer que dans un document joint. Vous ne saisissez aucune donnée de santé dans les textes libres.

Article 3 — Identifiants
Votre identifiant et votre mot de passe sont personnels. Vous signalez sans délai à votre gestionnaire toute perte, vol ou usage frauduleux.

Article 4 — Données personnelles
Les données sont traitées par la caisse pour l'accès aux droits et aux soins, conservées le temps nécessaire, et chaque action de sécurité est journalisée."""


def _account(login, profile, civilite, prenom, nom, email, password_hash, **extra):
    account = db.session.scalar(select(Account).where(Account.login == login))
    if account is None:
        account = Account(login=login, profile=profile, civilite=civilite, prenom=prenom, nom=nom, email=email,
                          status=AccountStatus.ACTIVE, password_hash=password_hash, password_changed_at=now(),
                          activated_at=now(), **extra)
        db.session.add(account)
        db.session.flush()
        db.session.add(PasswordHistory(account_id=account.id, password_hash=password_hash, created_at=now()))
    return account


def _demo_activity(ref: Account, tech: Account, caisse: Caisse) -> None:
    """A few demandes and a news item, through the domain (same rules as the
    app), once: the fictitious people below exist nowhere."""
    from datetime import date

    from ep_web.domain.demandes import DemandeInput, create_demande
    from ep_web.domain.news import create_news
    from ep_web.models import Demande, News
    from ep_web.transaction import commit

    if db.session.scalar(select(Demande.id).limit(1)) is None:
        samples = [
            ("signalement", "Mme", "Exemple", "Alice", date(1979, 4, 2),
             {"difficulty_kinds": ["droits", "soins"], "message": "Droits fermés depuis deux mois, "
              "la personne ne peut plus se faire soigner.", "urgency_reason": "droits_bloques"}, True),
            ("document", "M.", "Fictif", "Bruno", date(1965, 11, 23),
             {"document_kind": "attestation_droits", "message": "Attestation demandée par le bailleur."}, False),
            ("contact", "Mme", "Imaginaire", "Chloé", date(1990, 7, 14),
             {"subject": "Changement d'adresse", "message": "La personne a déménagé, merci de mettre à jour."},
             False),
        ]
        for service, civ, nom, prenom, born, details, urgent in samples:
            create_demande(tech, DemandeInput(service=service, caisse_id=caisse.id, civilite=civ, nom=nom,
                                              prenom=prenom, date_naissance=born, departement="74",
                                              details=details, consent=True, urgent=urgent))
    if db.session.scalar(select(News.id).limit(1)) is None:
        create_news(ref, title="Bienvenue sur l'Espace Partenaires",
                    body="Le portail remplace les échanges par e-mail.\n\n**Rappel** : ne saisissez jamais de "
                         "numéro de sécurité sociale dans les textes.", publish_at=now())
    commit()


HISTORY_DAYS = 365


def _demo_history(caisses, partners, tech: Account, agent: Account, ref: Account) -> None:
    """A year of closed and open demandes (fictitious people, made-up names),
    two information sessions and two resources, then the statistics rollup, so
    that the indicators and charts show something real in the quick start.
    Once: the history's references start with EP-H-."""
    import random
    from datetime import date, datetime, time, timezone

    from ep_web.clock import PARIS
    from ep_web.domain import statistics
    from ep_web.models import Demande, DemandeEvent, DemandeStatus, InformationSession, Outcome, Resource, StatState

    if db.session.scalar(select(Demande.id).where(Demande.reference.like("EP-H-%")).limit(1)) is not None:
        return
    rnd = random.Random(2026)
    noms = ["Exemple", "Fictif", "Imaginaire", "Démo", "Essai", "Modèle", "Témoin", "Specimen"]
    prenoms = ["Alex", "Camille", "Dominique", "Claude", "Sacha", "Noa", "Lou", "Charlie"]
    signalement_outcomes = [Outcome.TRANSMIS_MISSION_ACCOMPAGNEMENT] * 3 + [Outcome.PARCOURS_CREE] * 3 + [
        Outcome.PARCOURS_CLOTURE_SOINS] * 2 + [Outcome.EXAMEN_PREVENTION, Outcome.ORIENTEE_SERVICE_SOCIAL,
                                               Outcome.SANS_SUITE]
    general_outcomes = [Outcome.TRAITEE] * 8 + [Outcome.ORIENTEE_SERVICE_SOCIAL, Outcome.SANS_SUITE]
    flows = [  # (partner, caisse, services, demandes a day on average)
        (partners[0], caisses[0], [s.value for s in Service], 1.6),
        (partners[1], caisses[0], ["etude_dossier", "document", "suivi_ame", "signalement"], 0.7),
        (partners[0], caisses[1], ["contact", "signalement"], 0.4),
    ]
    weights = {"contact": 3, "etude_dossier": 3, "suivi_ame": 1, "signalement": 3, "rendez_vous": 2, "document": 2}
    start = today() - timedelta(days=HISTORY_DAYS)
    n = 0
    for offset in range(HISTORY_DAYS):
        day = start + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for partner, caisse, services, rate in flows:
            for _ in range(sum(1 for _ in range(4) if rnd.random() < rate / 4)):
                n += 1
                service = rnd.choices(services, [weights[x] for x in services])[0]
                created = datetime.combine(day, time(rnd.randint(8, 17), rnd.randint(0, 59)), PARIS) \
                    .astimezone(timezone.utc)
                due = created + timedelta(hours=48) if service == "signalement" else None
                take_h = rnd.choice([2, 5, 20, 30, 44]) if service == "signalement" and rnd.random() < 0.85 \
                    else rnd.randint(4, 120)
                taken = created + timedelta(hours=take_h)
                closed = taken + timedelta(hours=rnd.randint(2, 24 * rnd.choice([1, 2, 3, 5, 8, 15])))
                at = now()
                d = Demande(reference=f"EP-H-{n:06d}", service=service, caisse_id=caisse.id,
                            partenaire_id=partner.id, author_id=tech.id, civilite=rnd.choice(["Mme", "M."]),
                            nom=rnd.choice(noms), prenom=rnd.choice(prenoms),
                            date_naissance=date(rnd.randint(1940, 2004), rnd.randint(1, 12), rnd.randint(1, 28)),
                            departement="74", nom_search="", details={}, message="", consent=True,
                            created_at=created, updated_at=created, due_at=due)
                d.nom_search = f"{d.nom} {d.prenom}".lower()
                if taken < at:
                    d.taken_at, d.assigned_to_id, d.status = taken, agent.id, DemandeStatus.PRISE_EN_CHARGE
                if closed < at:
                    d.status, d.closed_at = DemandeStatus.CLOTUREE, closed
                    d.outcome = rnd.choice(signalement_outcomes if service == "signalement" else general_outcomes)
                db.session.add(d)
                db.session.flush()
                db.session.add(DemandeEvent(demande_id=d.id, kind="created", at=created, actor_id=tech.id, details={}))
                if d.taken_at and rnd.random() < 0.15:
                    db.session.add(DemandeEvent(demande_id=d.id, kind="complement_requested", actor_id=agent.id,
                                                at=d.taken_at + timedelta(hours=1), details={}))
    for held, topic, participants, trained in ((start + timedelta(days=60), "Présentation du portail", 14, 6),
                                               (today() - timedelta(days=40), "Le signalement de renoncement aux soins",
                                                9, 9)):
        db.session.add(InformationSession(caisse_id=caisses[0].id, partenaire_id=partners[0].id, held_on=held,
                                          topic=topic, participants=participants, staff_trained=trained,
                                          resource_ids=[], created_by_id=ref.id, created_at=now()))
    if db.session.scalar(select(Resource.id).limit(1)) is None:
        db.session.add_all([
            Resource(caisse_id=None, title="Guide d'utilisation de l'Espace Partenaires", category="documentation",
                     description="Le périmètre du recours au portail, service par service.",
                     url="https://www.example.org/guide-espace-partenaires", version="2",
                     published_on=today() - timedelta(days=30), created_at=now(), updated_at=now()),
            Resource(caisse_id=caisses[0].id, title="Repérer le renoncement aux soins", category="signalement",
                     description="Fiche d'aide au signalement pour les travailleurs sociaux.",
                     url="https://www.example.org/aide-signalement", version="1",
                     published_on=today() - timedelta(days=90), created_by_id=ref.id, created_at=now(),
                     updated_at=now()),
        ])
    # The history is older than the rollup's watermark: roll everything again.
    state = db.session.get(StatState, 1)
    if state is not None:
        state.rolled_through = None
    db.session.flush()
    statistics.rollup()


def seed(password: str = DEMO_PASSWORD) -> list[tuple[str, str, str]]:
    """Idempotent: running it twice leaves one copy of everything."""
    from ep_web.transaction import commit

    pw = hash_password(password)
    if db.session.scalar(select(CguVersion.id).limit(1)) is None:
        db.session.add(CguVersion(version=1, body=CGU_V1, published_at=now()))

    def caisse(code, name, deps, channel):
        c = db.session.scalar(select(Caisse).where(Caisse.code == code))
        if c is None:
            c = Caisse(code=code, name=name, departements=deps, address=f"1 rue de la Caisse, {name}",
                       referent_email=f"partenariat.{code}@caisse.example", dpo_email=f"dpo.{code}@caisse.example",
                       autre_canal=channel)
            db.session.add(c)
            db.session.flush()
        return c

    alpes = caisse("740", "CPAM des Alpes (démo)", "74", "Téléphone partenaires : 01 00 00 00 74, du lundi au vendredi, 8h30-17h")
    riviera = caisse("060", "CPAM de la Riviera (démo)", "06", "Accueil partenaires sur rendez-vous, ou 01 00 00 00 06")

    def partenaire(name, type_, members, domains, habilite=False):
        p = db.session.scalar(select(Partenaire).where(Partenaire.name == name))
        if p is None:
            p = Partenaire(name=name, type=type_, members=members, email_domains=domains, habilite_documents=habilite,
                           address="2 place de la Mairie, 74000 Ville-Démo", referent_name="Référent de la structure",
                           referent_email=f"referent@{domains.split()[0]}", dpo_name="Délégué à la protection des données",
                           dpo_email=f"dpo@{domains.split()[0]}")
            db.session.add(p)
            db.session.flush()
        return p

    ccas = partenaire("CCAS de Ville-Démo", PartenaireType.CCAS, 12, "ccas-villedemo.example")
    tutelle = partenaire("Association Tutelles Démo", PartenaireType.MANDATAIRE, 30, "tutelles-demo.example", True)

    def convention(p, c, services):
        conv = db.session.scalar(select(Convention).where(Convention.partenaire_id == p.id, Convention.caisse_id == c.id))
        if conv is None:
            start = today() - timedelta(days=60)
            db.session.add(Convention(partenaire_id=p.id, caisse_id=c.id, signed_on=start,
                                      ends_on=start.replace(year=start.year + 1), state=ConventionState.ACTIVE,
                                      services=[s.value for s in services], tacit_renewal=True))

    convention(ccas, alpes, list(Service))
    convention(ccas, riviera, [Service.CONTACT, Service.SIGNALEMENT])
    convention(tutelle, alpes, list(Service))

    nat = _account("NDEMO001", Profile.ADMIN_NATIONAL, "Mme", "Nadia", "Nationale", "admin.national@national.example", pw)
    ref = _account("RDEMO001", Profile.ADMIN_CAISSE, "M.", "Rémi", "Référent", "referent.demo@caisse.example", pw,
                   caisse_id=alpes.id)
    agent = _account("ADEMO001", Profile.AGENT, "Mme", "Agathe", "Agent", "agent.demo@caisse.example", pw,
                     caisse_id=alpes.id)
    gest = _account("GDEMO001", Profile.GESTIONNAIRE, "Mme", "Gaëlle", "Gestion", "gestion@ccas-villedemo.example", pw,
                    partenaire_id=ccas.id, fonction="Responsable du pôle social", telephone="01 00 00 00 01")
    tech = _account("TDEMO001", Profile.TECHNICIEN, "M.", "Théo", "Terrain", "travailleur.social@ccas-villedemo.example",
                    pw, partenaire_id=ccas.id, fonction="Travailleur social", manager_id=gest.id, created_by_id=gest.id)
    from ep_web.domain.second_factor import enrol_with_secret

    for account in (nat, ref, gest):  # the profiles that must use a second factor (SPEC §3)
        if not account.has_second_factor:
            enrol_with_secret(account, DEMO_TOTP_SECRET)
    commit()
    _demo_activity(ref, tech, alpes)
    _demo_history([alpes, riviera], [ccas, tutelle], tech, agent, ref)
    commit()
    return [
        ("admin_national", nat.login, f"{nat.full_name} — administration nationale"),
        ("admin_caisse", ref.login, f"{ref.full_name} — {alpes.name}"),
        ("agent", agent.login, f"{agent.full_name} — {alpes.name}"),
        ("gestionnaire", gest.login, f"{gest.full_name} — {ccas.name}"),
        ("technicien", tech.login, f"{tech.full_name} — {ccas.name}"),
    ]
