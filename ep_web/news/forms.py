"""Forms of the news area. The rules live in ep_web.domain.news."""
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import AnyOf, InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from ep_web.forms import REQUIRED, ParisDateTimeField, choices
from ep_web.models import PARTENAIRE_TYPE_LABELS


class MultiCheckboxField(SelectMultipleField):
    """Checkboxes; unknown values are refused by the domain (French message)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):  # the domain checks the values
        pass


class NewsForm(FlaskForm):
    title = StringField("Titre",
                        validators=[InputRequired(REQUIRED), Length(max=200, message="200 caractères au plus.")])
    body = TextAreaField(
        "Texte",
        validators=[InputRequired(REQUIRED), Length(max=20000, message="20 000 caractères au plus.")],
        description="Mise en forme Markdown : **gras**, *italique*, listes avec « - », liens [texte](https://…), "
        "intertitres avec « ## ».",
    )
    publish_at = ParisDateTimeField(
        "Date de publication (heure de Paris)", validators=[InputRequired("Indiquez la date de publication.")],
        description="Les partenaires voient l'actualité à partir de cette date. Exemple : 15/05/2026 09:00",
    )
    target_types = MultiCheckboxField(
        "Structures destinataires",
        choices=choices([(t.value, label) for t, label in PARTENAIRE_TYPE_LABELS.items()]),
        description="Aucune case cochée : tous les partenaires de la caisse.",
    )


DIGEST_NOT_UNDERSTOOD = "Choix d'abonnement non compris : recommencez."


class DigestForm(FlaskForm):
    subscribe = HiddenField(validators=[InputRequired(DIGEST_NOT_UNDERSTOOD),
                                        AnyOf(("0", "1"), message=DIGEST_NOT_UNDERSTOOD)])


class ActionForm(FlaskForm):
    """A bare POST (CSRF only)."""
