"""Forms of the partner's demandes (SPEC §4).

Shapes only (dates, choices offered): the rules — required fields, NIR guard,
health warning, consent, duplicates, services enabled — live in
ep_web.domain.demandes and come back as French DomainErrors next to their field."""
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    MultipleFileField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Optional
from wtforms.widgets import DateInput

from ep_web.caisse.forms import MultiCheckboxField
from ep_web.domain.demandes import (
    CIVILITES,
    DIFFICULTY_KINDS,
    DOCUMENT_KINDS,
    ETUDE_KINDS,
    FREE_TEXT_FIELDS,
    RDV_CHANNELS,
    URGENCY_REASONS,
    DemandeInput,
)
from ep_web.forms import FrenchDateField, ListSelect, choices, coerce_choice_id, list_widget
from ep_web.models import SERVICE_LABELS, DemandeStatus, Service


class DemandeForm(FlaskForm):
    """Every field of every service; the page shows those of its service."""

    caisse_id = SelectField("Caisse destinataire", coerce=coerce_choice_id, validate_choice=False)
    # The person (SPEC §4): never the NIR.
    civilite = RadioField("Civilité", choices=choices(CIVILITES.items()), validate_choice=False)
    nom = StringField("Nom")
    prenom = StringField("Prénom")
    date_naissance = FrenchDateField("Date de naissance", validators=[Optional()],
                                     invalid_message="Date de naissance invalide. Exemple : 15/05/1980")
    departement = StringField("Département de résidence")
    # contact
    subject = StringField("Objet")
    # étude de dossier
    kind = RadioField("Type de dossier", choices=choices(ETUDE_KINDS.items()), validate_choice=False)
    # suivi AME
    filed_on = FrenchDateField("Date de dépôt du dossier AME", validators=[Optional()],
                               invalid_message="Date de dépôt invalide. Exemple : 15/05/2026")
    # signalement
    difficulty_kinds = MultiCheckboxField("Difficultés rencontrées", choices=choices(DIFFICULTY_KINDS.items()))
    consent = BooleanField("La personne a accepté d'être contactée par la caisse")
    urgent = BooleanField("La situation est urgente")
    urgency_reason = RadioField("Motif de l'urgence", choices=choices(URGENCY_REASONS.items()),
                                validate_choice=False)
    urgency_detail = TextAreaField("Précisions sur l'urgence")
    # rendez-vous
    reason = TextAreaField("Motif du rendez-vous")
    slots = TextAreaField("Créneaux qui conviennent à la personne")
    channel = RadioField("Mode de rendez-vous", choices=choices(RDV_CHANNELS.items()), validate_choice=False)
    # document
    document_kind = SelectField("Document demandé",
                                choices=choices([("", "— Choisir un document —")] + list(DOCUMENT_KINDS.items())),
                                validate_choice=False)
    document_other = StringField("Précisez le document")
    # every service
    message = TextAreaField("Message")
    files = MultipleFileField("Pièces jointes")
    health_confirmed = BooleanField("Je confirme que ce texte ne contient pas de données de santé")
    duplicate_confirmed = BooleanField("Je confirme qu'il ne s'agit pas d'un doublon")

    def set_caisses(self, conventions) -> None:
        self.caisse_id.choices = choices([("", "— Choisir la caisse —")]
                                         + [(c.caisse_id, c.caisse.name) for c in conventions])

    def to_input(self, service: str) -> DemandeInput:
        details = {
            "subject": self.subject.data, "message": self.message.data, "kind": self.kind.data,
            "filed_on": self.filed_on.data, "difficulty_kinds": self.difficulty_kinds.data or [],
            "urgency_reason": self.urgency_reason.data, "urgency_detail": self.urgency_detail.data,
            "reason": self.reason.data, "slots": self.slots.data, "channel": self.channel.data,
            "document_kind": self.document_kind.data, "document_other": self.document_other.data,
        }
        return DemandeInput(
            service=service, caisse_id=self.caisse_id.data, civilite=self.civilite.data or "",
            nom=self.nom.data or "", prenom=self.prenom.data or "", date_naissance=self.date_naissance.data,
            departement=self.departement.data or "", details=details, consent=bool(self.consent.data),
            urgent=bool(self.urgent.data), health_confirmed=bool(self.health_confirmed.data),
            duplicate_confirmed=bool(self.duplicate_confirmed.data),
        )


# Every field a partner types, per service: all go through the NIR guard.
IDENTITY_TEXT_FIELDS = ("nom", "prenom")


def typed_fields(service: str) -> tuple[str, ...]:
    return IDENTITY_TEXT_FIELDS + FREE_TEXT_FIELDS[service]


class ReplyForm(FlaskForm):
    """A technicien's message in the thread (and files, within the limit)."""

    body = TextAreaField("Votre message")
    files = MultipleFileField("Pièces jointes")
    health_confirmed = BooleanField("Je confirme que ce texte ne contient pas de données de santé")


class ActionForm(FlaskForm):
    """A bare POST (CSRF only): follow, unfollow (SPEC §6)."""


class CheckForm(FlaskForm):
    """The live guard: one field name and its value."""

    field = HiddenField()


class HistoryForm(FlaskForm):
    """The history filters: a GET form (no CSRF), shapes only."""

    class Meta:
        csrf = False

    q = StringField("Nom de la personne")
    service = SelectField("Service", validate_choice=False, widget=ListSelect(),
                          choices=choices([("", "Tous les services")]
                                          + [(s.value, label) for s, label in SERVICE_LABELS.items()]))
    status = SelectField("Statut", validate_choice=False, widget=ListSelect(),
                         choices=choices([("", "Tous les statuts")] + [(s.value, s.label) for s in DemandeStatus]))
    caisse_id = SelectField("Caisse", coerce=coerce_choice_id, validate_choice=False, widget=ListSelect())
    author_id = SelectField("Auteur", coerce=coerce_choice_id, validate_choice=False, widget=ListSelect())
    date_from = FrenchDateField("Du", validators=[Optional()], invalid_message="Date invalide. Exemple : 01/03/2026",
                                widget=list_widget(DateInput))
    date_to = FrenchDateField("Au", validators=[Optional()], invalid_message="Date invalide. Exemple : 31/03/2026",
                              widget=list_widget(DateInput))


SERVICES = [s.value for s in Service]
