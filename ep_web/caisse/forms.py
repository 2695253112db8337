"""Forms of the référent partenariat (admin_caisse) area.

The rules (SIRET, quotas, professional e-mail, convention dates, mandatory
reasons...) live in ep_web.domain and come back as French DomainErrors; these
forms only check shapes, with French messages, so that nothing typed is lost."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ep_web.forms import REQUIRED, FrenchDateField, IdentityForm, choices  # noqa: F401 (re-exported)
from ep_web.models import PARTENAIRE_TYPE_LABELS, SERVICE_LABELS


def _max(n: int) -> Length:
    return Length(max=n, message=f"{n} caractères au plus.")


class MultiCheckboxField(SelectMultipleField):
    """Checkboxes; unknown values are refused by the domain (French message)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __init__(self, *args, **kw):
        kw.setdefault("validate_choice", False)
        super().__init__(*args, **kw)


SERVICE_CHOICES = choices((s.value, label) for s, label in SERVICE_LABELS.items())
TYPE_CHOICES = choices([("", "— Choisir un type —")]
                       + [(t.value, label) for t, label in PARTENAIRE_TYPE_LABELS.items()])


class FilterForm(FlaskForm):
    """The partner list filter: a GET form (no CSRF)."""

    class Meta:
        csrf = False

    q = StringField("Rechercher une structure par son nom", validators=[Optional(), _max(200)])


class PartenaireForm(FlaskForm):
    """A partner's file (SPEC §2)."""

    name = StringField("Nom de la structure", validators=[DataRequired(REQUIRED), _max(200)],
                       description="Exemple : CCAS de Villeneuve")
    siret = StringField("SIRET (facultatif)", validators=[Optional(), _max(20)],
                        description="14 chiffres. Exemple : 732 829 320 00074")
    address = TextAreaField("Adresse postale", validators=[Optional(), _max(1000)])
    type = SelectField("Type de structure", choices=TYPE_CHOICES, validate_choice=False,
                       validators=[DataRequired("Choisissez le type de structure.")])
    # A text field: a mistyped number comes back with the domain's French message, as typed.
    members = StringField("Nombre de membres", validators=[DataRequired(REQUIRED), _max(6)],
                          description="Il fixe les quotas : 1 à 10 membres → 2 gestionnaires et 5 techniciens ; "
                                      "11 à 25 → 3 et 15 ; plus de 25 → 5 et 25.")
    habilite_documents = BooleanField(
        "Habilitée à recevoir les documents dans le portail",
        description="Mandataires/tutelles, ASE et organismes dépositaires seulement. Pour les autres structures, "
                    "les documents partent par courrier à l'adresse connue de l'assuré.",
    )
    email_domains = TextAreaField("Domaines de messagerie professionnelle", validators=[Optional(), _max(2000)],
                                  description="Un par ligne. Les comptes de la structure devront les utiliser. "
                                              "Exemple : ccas-villeneuve.fr")
    referent_name = StringField("Nom du référent de la structure", validators=[Optional(), _max(200)])
    referent_email = StringField("E-mail du référent", validators=[Optional(), _max(254)])
    dpo_name = StringField("Nom du délégué à la protection des données (DPO)", validators=[Optional(), _max(200)])
    dpo_email = StringField("E-mail du DPO", validators=[Optional(), _max(254)])
    parent_id = SelectField("Structure principale (pour un site)",
                            choices=choices([("", "Aucune : structure principale")]), validate_choice=False,
                            description="Un site (par exemple une UTAMS) a ses propres comptes et quotas.")

    def set_parents(self, partenaires) -> None:
        self.parent_id.choices = choices([("", "Aucune : structure principale")]
                                         + [(str(p.id), p.name) for p in partenaires])

    def partenaire_data(self) -> dict:
        return {
            "name": self.name.data or "",
            "siret": self.siret.data or "",
            "address": self.address.data or "",
            "type": self.type.data or "",
            "members": (self.members.data or "").strip(),
            "habilite_documents": bool(self.habilite_documents.data),
            "email_domains": self.email_domains.data or "",
            "referent_name": self.referent_name.data or "",
            "referent_email": self.referent_email.data or "",
            "dpo_name": self.dpo_name.data or "",
            "dpo_email": self.dpo_email.data or "",
            "parent_id": self.parent_id.data or None,
        }


class ConventionFieldsMixin:
    """The convention fields (SPEC §2): the end date defaults to one year after signature."""

    signed_on = FrenchDateField("Date de signature", validators=[InputRequired("Indiquez la date de signature.")])
    ends_on = FrenchDateField("Date de fin (facultatif)", validators=[Optional()],
                              description="Laissez vide : un an après la signature.")
    services = MultiCheckboxField("Services ouverts à la structure", choices=SERVICE_CHOICES,
                                  default=[c.value for c in SERVICE_CHOICES])
    tacit_renewal = BooleanField("Reconduction tacite chaque année", default=True)

    def convention_data(self) -> dict:
        return {
            "signed_on": self.signed_on.data,
            "ends_on": self.ends_on.data,
            "services": self.services.data or [],
            "tacit_renewal": bool(self.tacit_renewal.data),
        }


class NewPartenaireForm(PartenaireForm, ConventionFieldsMixin):
    """The partner and its convention with the caisse, in one form."""


class ConventionForm(FlaskForm, ConventionFieldsMixin):
    """A new convention with an already known partner."""


class ServicesForm(FlaskForm):
    services = MultiCheckboxField("Services ouverts à la structure", choices=SERVICE_CHOICES)


END_MODE_MISSING = "Choisissez le type de fin : terminée ou résiliée."


class EndConventionForm(FlaskForm):
    mode = RadioField(
        "Type de fin",
        choices=choices([("terminee", "Terminée (arrivée à son terme)"), ("resiliee", "Résiliée (fin anticipée)")]),
        # No default: ending a convention is destructive, the référent chooses.
        validate_choice=False,
        validators=[InputRequired(END_MODE_MISSING), AnyOf(("terminee", "resiliee"), message=END_MODE_MISSING)],
    )
    reason = TextAreaField("Motif", validators=[DataRequired("Indiquez le motif de la fin de la convention."),
                                                _max(1000)])


class ActionForm(FlaskForm):
    """A bare POST (CSRF only): renew, denounce, lift a suspension, resend a link."""


class ReasonForm(FlaskForm):
    """Immediate inactivation (fraud, loss, theft) or suspension: the reason is
    mandatory — the domain refuses an empty one with its own message."""

    reason = TextAreaField("Motif", validators=[Optional(), _max(1000)])


class ScheduleForm(FlaskForm):
    on = FrenchDateField("Date d'inactivation", validators=[InputRequired("Indiquez la date d'inactivation.")])


class ReviewForm(FlaskForm):
    deadline = FrenchDateField("Échéance de la revue", validators=[InputRequired("Indiquez l'échéance de la revue.")])


class GestionnaireForm(IdentityForm):
    """A gestionnaire's identity (SPEC §3): the phone is required by the domain."""


class AgentForm(IdentityForm):
    email = StringField("Adresse e-mail professionnelle", validators=[DataRequired(REQUIRED), _max(254)],
                        description="Le lien d'activation du compte y est envoyé.")


class RefuseForm(FlaskForm):
    response = TextAreaField("Motif du refus (transmis au partenaire)", validators=[Optional(), _max(2000)])
