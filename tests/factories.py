"""Build consistent objects for tests: a caisse, a partner with its convention,
accounts that are already active (password PASSWORD, CGU accepted)."""
import itertools
from datetime import timedelta

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
    Profile,
    Service,
)

_seq = itertools.count(1)
_HASH = {}


def _pw_hash(password):
    if password not in _HASH:
        _HASH[password] = hash_password(password)
    return _HASH[password]



def alpha(n: int) -> str:
    """A number spelt in letters (1 → "B", 12 → "BC"): person names take letters only."""
    return str(n).translate(str.maketrans("0123456789", "ABCDEFGHIJ"))

class Factory:
    def __init__(self, clock):
        self.clock = clock

    def today(self):
        from ep_web.clock import today

        return today()

    def cgu(self, version=1):
        c = CguVersion(version=version, body=f"CGU version {version}", published_at=self.clock.now())
        db.session.add(c)
        db.session.commit()
        return c

    def caisse(self, **kw):
        n = next(_seq)
        # There is no département 20 (Corsica is 2A/2B): the demande domain refuses it.
        departement = f"{n % 95 + 1:02d}".replace("20", "2A")
        defaults = dict(name=f"CPAM Test {n}", code=f"C{n:03d}", departements=departement,
                        referent_email=f"referent{n}@caisse{n}.example", autre_canal=f"Téléphone 01 00 00 {n:02d} 00")
        defaults.update(kw)
        c = Caisse(**defaults)
        db.session.add(c)
        db.session.commit()
        return c

    def partenaire(self, caisse=None, members=12, services=None, **kw):
        n = next(_seq)
        defaults = dict(name=f"Structure {n}", type=PartenaireType.CCAS, members=members,
                        email_domains=f"structure{n}.example")
        defaults.update(kw)
        p = Partenaire(**defaults)
        db.session.add(p)
        db.session.flush()
        if caisse is not None:
            self.convention(p, caisse, services=services)
        db.session.commit()
        return p

    def convention(self, partenaire, caisse, services=None, state=ConventionState.ACTIVE, signed_on=None, ends_on=None):
        start = signed_on or (self.today() - timedelta(days=30))
        conv = Convention(partenaire_id=partenaire.id, caisse_id=caisse.id, signed_on=start,
                          ends_on=ends_on or start.replace(year=start.year + 1), state=state,
                          services=[s.value for s in (services if services is not None else list(Service))])
        db.session.add(conv)
        db.session.commit()
        return conv

    def account(self, profile, partenaire=None, caisse=None, status=AccountStatus.ACTIVE, password=None,
                second_factor=None, **kw):
        """``second_factor``: enrolled with TOTP_SECRET; by default for the profiles
        that must have one (SPEC §3), when the account is active."""
        from ep_web.domain.second_factor import MANDATORY_PROFILES, enrol_with_secret
        from tests.conftest import PASSWORD, TOTP_SECRET

        n = next(_seq)
        domain = partenaire.domain_list[0] if partenaire is not None and partenaire.domain_list else "caisse.example"
        defaults = dict(
            login=f"{profile.value[0].upper()}TEST{n:04d}", profile=profile, status=status,
            civilite="Mme", nom=f"Nom{alpha(n)}", prenom=f"Prenom{alpha(n)}", email=f"user{n}@{domain}",
            telephone="01 00 00 00 00", fonction="Fonction",
            partenaire_id=partenaire.id if partenaire is not None else None,
            caisse_id=caisse.id if caisse is not None else None,
            password_hash=_pw_hash(password or PASSWORD) if status != AccountStatus.PENDING else None,
            password_changed_at=self.clock.now(),
            cgu_version=1, last_login_at=self.clock.now(),
        )
        defaults.update(kw)
        a = Account(**defaults)
        if second_factor is None:
            second_factor = profile in MANDATORY_PROFILES and status == AccountStatus.ACTIVE
        if second_factor:
            enrol_with_secret(a, TOTP_SECRET)
        db.session.add(a)
        db.session.commit()
        return a

    def technicien(self, partenaire, **kw):
        return self.account(Profile.TECHNICIEN, partenaire=partenaire, **kw)

    def gestionnaire(self, partenaire, **kw):
        return self.account(Profile.GESTIONNAIRE, partenaire=partenaire, **kw)

    def admin_caisse(self, caisse, **kw):
        return self.account(Profile.ADMIN_CAISSE, caisse=caisse, **kw)

    def agent(self, caisse, **kw):
        return self.account(Profile.AGENT, caisse=caisse, **kw)

    def admin_national(self, **kw):
        return self.account(Profile.ADMIN_NATIONAL, **kw)

    def world(self):
        """Two caisses, each with one partner (plus their accounts): for isolation tests."""
        w = type("World", (), {})()
        w.caisse = self.caisse()
        w.other_caisse = self.caisse()
        w.partenaire = self.partenaire(w.caisse, members=12)
        w.other_partenaire = self.partenaire(w.other_caisse, members=12)
        w.national = self.admin_national()
        w.admin = self.admin_caisse(w.caisse)
        w.other_admin = self.admin_caisse(w.other_caisse)
        w.agent = self.agent(w.caisse)
        w.gestionnaire = self.gestionnaire(w.partenaire)
        w.gestionnaire2 = self.gestionnaire(w.partenaire)
        w.technicien = self.technicien(w.partenaire, manager_id=w.gestionnaire.id)
        w.other_gestionnaire = self.gestionnaire(w.other_partenaire)
        w.other_technicien = self.technicien(w.other_partenaire)
        return w
