from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ep_web.forms import REQUIRED, IdentityForm

# The domain (ep_web.domain.caisses) holds the rules; these validators only
# catch empty or oversized input early, with the same French wording.


class CaisseForm(FlaskForm):
    name = StringField("Nom de la caisse", validators=[DataRequired(REQUIRED), Length(max=200)],
                       description="Exemple : CPAM de la Haute-Savoie")
    code = StringField("Code de la caisse", validators=[DataRequired(REQUIRED), Length(max=10)],
                       description="Chiffres et lettres, 10 au plus. Exemple : 741")
    departements = StringField("Département(s) couvert(s)", validators=[DataRequired(REQUIRED), Length(max=100)],
                               description="Numéros séparés par des virgules. Exemples : 74 ; 2A, 2B ; 971")
    address = TextAreaField("Adresse postale", validators=[Optional(), Length(max=1000)])
    referent_email = StringField(
        "Boîte aux lettres du référent partenariat",
        validators=[DataRequired(REQUIRED), Length(max=254)],
        description="Reçoit les signalements de dysfonctionnement et d'usage frauduleux. "
        "Exemple : partenaires.cpam74@assurance-maladie.example",
    )
    dpo_email = StringField(
        "Boîte aux lettres du délégué à la protection des données (DPO)",
        validators=[Optional(), Length(max=254)],
        description="Prévenue dès qu'une violation de données est signalée. Vide : la boîte du référent "
        "partenariat l'est à sa place. Exemple : dpo.cpam74@assurance-maladie.example",
    )
    autre_canal = TextAreaField(
        "Autre canal de contact",
        validators=[DataRequired(REQUIRED), Length(max=2000)],
        description="Téléphone, adresse e-mail ou accueil que les partenaires utilisent "
                    "quand le portail est indisponible.",
    )
    idle_inactivation_enabled = BooleanField(
        "Inactiver automatiquement les comptes technicien sans connexion depuis 3 mois", default=True
    )
    agents_second_factor_required = BooleanField("Exiger la double authentification des agents de la caisse")

    def caisse_data(self) -> dict:
        return {
            "name": self.name.data or "",
            "code": self.code.data or "",
            "departements": self.departements.data or "",
            "address": self.address.data or "",
            "referent_email": self.referent_email.data or "",
            "dpo_email": self.dpo_email.data or "",
            "autre_canal": self.autre_canal.data or "",
            "idle_inactivation_enabled": bool(self.idle_inactivation_enabled.data),
            "agents_second_factor_required": bool(self.agents_second_factor_required.data),
        }


class ReferentForm(IdentityForm):
    """A référent partenariat (admin_caisse account): the identity fields of SPEC §3."""

    email = StringField(
        "Adresse e-mail professionnelle",
        validators=[DataRequired(REQUIRED), Length(max=254)],
        description="Le lien d'activation du compte y est envoyé.",
    )


class NewCaisseForm(CaisseForm, ReferentForm):
    """The caisse and its first référent, in one form."""


class InactivateForm(FlaskForm):
    reason = TextAreaField("Motif de l'inactivation", validators=[Optional(), Length(max=1000)],
                           description="Facultatif. Exemple : départ de l'agent, changement de fonction.")
