"""Forms of the tickets area. The rules (caisses in force, NIR guard, health
warning, screenshot checks, statuses) live in ep_web.domain.tickets."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, Form, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from ep_web.domain.tickets import PORTAL_AREAS
from ep_web.forms import REQUIRED, choices, coerce_choice_id
from ep_web.models import TicketStatus

HEALTH_LABEL = "Je confirme que ce texte ne contient aucune donnée de santé"



class TicketForm(FlaskForm):
    caisse_id = SelectField("Caisse destinataire", coerce=coerce_choice_id, validate_choice=False,
                            validators=[InputRequired("Choisissez la caisse.")])
    subject = StringField("Objet",
                          validators=[InputRequired(REQUIRED), Length(max=200, message="200 caractères au plus.")],
                          description="En quelques mots. Exemple : le bouton « Envoyer » ne répond pas.")
    area = SelectField("Page ou service concerné",
                       choices=choices([("", "— Choisir —")] + list(PORTAL_AREAS.items())),
                       validate_choice=False, validators=[InputRequired("Choisissez la page ou le service concerné.")])
    page_detail = StringField("Précisez la page (facultatif)",
                              validators=[Optional(), Length(max=150, message="150 caractères au plus.")],
                              description="Exemple : formulaire de demande de rendez-vous, après l'envoi.")
    description = TextAreaField(
        "Description du problème",
        validators=[InputRequired(REQUIRED), Length(max=5000, message="5000 caractères au plus.")],
        description="Ce que vous faisiez, ce qui s'est passé, le message d'erreur éventuel. "
        "Ne donnez aucune information sur une personne accompagnée (ni nom, ni numéro de sécurité sociale, ni santé).",
    )
    screenshot = FileField("Capture d'écran (facultatif)",
                           description="Une image PNG ou JPEG, 10 Mo au plus. "
                                       "Masquez toute information sur une personne.")
    health_confirmed = BooleanField(HEALTH_LABEL)

    def set_caisses(self, caisses) -> None:
        pairs = [(c.id, c.name) for c in caisses]
        if len(pairs) != 1:
            pairs = [("", "— Choisir une caisse —")] + pairs
        self.caisse_id.choices = choices(pairs)


class ReplyForm(FlaskForm):
    body = TextAreaField("Votre message",
                         validators=[InputRequired(REQUIRED), Length(max=5000, message="5000 caractères au plus.")])
    health_confirmed = BooleanField(HEALTH_LABEL)
    resolve = BooleanField("Marquer le ticket comme résolu avec cette réponse")


class ActionForm(FlaskForm):
    """A bare POST (CSRF only): take, escalate, resolve."""


class FilterForm(Form):
    """The status filter of the lists (GET, no CSRF)."""

    status = SelectField("Statut",
                         choices=choices([("", "Tous les statuts")] + [(s.value, s.label) for s in TicketStatus]),
                         validate_choice=False, validators=[Optional()])

    @property
    def status_value(self) -> TicketStatus | None:
        return TicketStatus._value2member_map_.get(self.status.data or "")
