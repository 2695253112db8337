"""The habilitation table of a partner (SPEC §3 [4.2]): every account, its
profile, status and dates — shown to the partner's gestionnaires and to its
caisses, exportable as CSV and XLSX."""
from dataclasses import dataclass

from sqlalchemy import select

from ep_web.extensions import db
from ep_web.models import Account, AccountStatus, Profile


@dataclass
class HabilitationRow:
    account: Account
    manager_name: str

    @property
    def columns(self) -> list:
        a = self.account
        return [a.login, a.profile.label, a.civilite, a.nom, a.prenom, a.fonction, a.email, a.status.label,
                a.created_at, a.activated_at, a.last_login_at, a.inactivated_at, a.inactivation_reason,
                self.manager_name]


HEADERS = ["Identifiant", "Profil", "Civilité", "Nom", "Prénom", "Fonction", "E-mail", "Statut", "Créé le",
           "Activé le", "Dernière connexion", "Inactivé le", "Motif d'inactivation", "Gestionnaire de rattachement"]


def habilitation_rows(partenaire_id: int) -> list[HabilitationRow]:
    """Every non-deleted account of the partner: gestionnaires first, then
    techniciens; active before pending before inactive; by name (SPEC §3 [4.2])."""
    accounts = db.session.scalars(
        select(Account).where(Account.partenaire_id == partenaire_id, Account.status != AccountStatus.DELETED)
    ).all()
    by_id = {a.id: a for a in accounts}
    order = {AccountStatus.ACTIVE: 0, AccountStatus.PENDING: 1, AccountStatus.INACTIVE: 2}
    accounts = sorted(accounts, key=lambda a: (a.profile != Profile.GESTIONNAIRE, order.get(a.status, 3),
                                               a.nom.lower(), a.prenom.lower()))
    rows = []
    for a in accounts:
        manager = by_id.get(a.manager_id) if a.manager_id else None
        rows.append(HabilitationRow(a, manager.full_name if manager else ""))
    return rows


def row_for(account: Account) -> HabilitationRow:
    """SPEC §3 [4.2]: the habilitation table's line of one account (an htmx swap
    of that line computes nothing else)."""
    manager = account.manager
    # As in habilitation_rows: a manager is named only while it is a listed account.
    listed = (manager is not None and manager.partenaire_id == account.partenaire_id
              and manager.status != AccountStatus.DELETED)
    return HabilitationRow(account, manager.full_name if listed else "")
