"""Forms of the caisse's processing queue (SPEC §4 Caisse queue).

Shapes only: the rules (state machine, NIR guard, health warning, habilitation
for documents, outcomes) live in ep_web.domain.demandes and come back as
French DomainErrors shown next to their field."""
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional
from wtforms.widgets import CheckboxInput, DateInput, HiddenInput, TextInput

from ep_web.forms import FrenchDateField, ListSelect, choices, list_widget
from ep_web.models import DemandeStatus, Service

SERVICE_SHORT = {
    Service.CONTACT.value: "Contact",
    Service.ETUDE_DOSSIER.value: "Étude de dossier",
    Service.SUIVI_AME.value: "Suivi AME",
    Service.SIGNALEMENT.value: "Signalement",
    Service.RENDEZ_VOUS.value: "Rendez-vous",
    Service.DOCUMENT.value: "Document",
}
STATUS_CHOICES = choices([("", "Ouvertes (à traiter)")] + [(s.value, s.label) for s in DemandeStatus])
SERVICE_CHOICES = choices([("", "Tous les services")] + list(SERVICE_SHORT.items()))
HEALTH_CONFIRM_LABEL = "Je confirme que ce texte ne contient aucune donnée de santé"


def _max(n: int) -> Length:
    return Length(max=n, message=f"{n} caractères au plus.")


class QueueFilterForm(FlaskForm):
    """The queue filters: a GET form (no CSRF), so a filtered list is a link."""

    class Meta:
        csrf = False

    statut = SelectField("Statut", choices=STATUS_CHOICES, validate_choice=False, widget=ListSelect())
    service = SelectField("Service", choices=SERVICE_CHOICES, validate_choice=False, widget=ListSelect())
    q = StringField("Nom de la personne", validators=[Optional(), _max(200)], widget=list_widget(TextInput))
    du = FrenchDateField("Reçues depuis le", validators=[Optional()], widget=list_widget(DateInput))
    au = FrenchDateField("Reçues jusqu'au", validators=[Optional()], widget=list_widget(DateInput))
    urgent = BooleanField("Urgentes seulement", widget=list_widget(CheckboxInput))
    mine = BooleanField("Prises en charge par moi", widget=list_widget(CheckboxInput))
    # A tab of the cockpit (SPEC §6), kept by the other filters as a hidden field.
    onglet = HiddenField(widget=list_widget(HiddenInput))


class ActionForm(FlaskForm):
    """A bare POST (CSRF only): take, mark as sent by post."""


class ReplyForm(FlaskForm):
    body = TextAreaField("Votre réponse à la structure", validators=[Optional(), _max(4000)],
                         description="Ne saisissez ni numéro de sécurité sociale ni information médicale.")
    health_confirmed = BooleanField(HEALTH_CONFIRM_LABEL)
    files = MultipleFileField("Documents à joindre (facultatif)",
                              description="PDF, JPEG ou PNG, 10 Mo au plus chacun, 5 par demande.")


class ComplementForm(FlaskForm):
    body = TextAreaField("Ce qui manque pour traiter la demande", validators=[Optional(), _max(4000)],
                         description="La structure est prévenue par e-mail ; la demande passe « en attente de "
                                     "complément » jusqu'à sa réponse.")
    health_confirmed = BooleanField(HEALTH_CONFIRM_LABEL)


class DocumentForm(FlaskForm):
    files = MultipleFileField("Document(s) à déposer",
                              description="PDF, JPEG ou PNG, 10 Mo au plus chacun, 5 par demande. Le NIR peut "
                                          "figurer dans le document.")


class CloseForm(FlaskForm):
    outcome = RadioField("Issue de la demande", choices=[], validate_choice=False)

    def set_outcomes(self, outcomes) -> None:
        self.outcome.choices = choices((o.value, o.label) for o in outcomes)


class RetentionForm(FlaskForm):
    until = FrenchDateField("Conserver jusqu'au", validators=[Optional()])
    reason = TextAreaField("Motif de la prolongation", validators=[Optional(), _max(1000)],
                           description="Contentieux, procédure en cours… Le motif est tracé et montré à la structure.")
