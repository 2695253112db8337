"""Forms of the indicators area: the filters (GET) and the information session."""
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from ep_web.caisse.forms import FrenchDateField, MultiCheckboxField
from ep_web.clock import today
from ep_web.forms import REQUIRED, choices
from ep_web.models import PARTENAIRE_TYPE_LABELS

FIRST_YEAR = 2020


class FrenchIntegerField(IntegerField):
    """An integer with a French message when it cannot be read."""

    def process_formdata(self, valuelist):
        self.data = None
        raw = (valuelist[0] if valuelist else "").strip().replace(" ", "")
        if not raw:
            return
        try:
            self.data = int(raw)
        except ValueError:
            raise ValueError("Saisissez un nombre entier, par exemple 12.") from None


def year_choices():
    return choices((str(y), str(y)) for y in range(today().year, FIRST_YEAR - 1, -1))


class FilterForm(FlaskForm):
    """The indicators' filters: a GET form (no CSRF). A date range, when both
    ends are given, wins over the year."""

    class Meta:
        csrf = False

    annee = SelectField("Année", validators=[Optional()], validate_choice=False)
    du = FrenchDateField("Du", validators=[Optional()])
    au = FrenchDateField("Au", validators=[Optional()])
    type = SelectField("Type de structure", validators=[Optional()], validate_choice=False,
                       choices=choices([("", "Tous les types")] + [(t.value, label) for t, label in
                                                                     PARTENAIRE_TYPE_LABELS.items()]))
    departement = StringField("Département", validators=[Optional(), Length(max=3, message="3 caractères au plus.")],
                              description="Exemple : 74, 2A ou 974")
    caisse = SelectField("Caisse", validators=[Optional()], validate_choice=False)
    tri = StringField(validators=[Optional(), Length(max=20)])
    ordre = StringField(validators=[Optional(), Length(max=4)])

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.annee.choices = year_choices()


class SessionForm(FlaskForm):
    """An information session held with the partner (SPEC §7)."""

    held_on = FrenchDateField("Date de la session", validators=[InputRequired(REQUIRED)],
                              invalid_message="Date invalide. Exemple : 15/05/2026")
    topic = StringField("Thème", validators=[InputRequired(REQUIRED),
                                             Length(max=200, message="200 caractères au plus.")],
                        description="Exemple : présentation du signalement de renoncement aux soins")
    participants = FrenchIntegerField("Nombre de participants", validators=[InputRequired(REQUIRED),
                                      NumberRange(min=1, max=10_000, message="Entre 1 et 10 000.")])
    staff_trained = FrenchIntegerField("Dont personnes formées à Espace Partenaires",
                                       validators=[Optional(), NumberRange(min=0, max=10_000,
                                                                           message="Entre 0 et 10 000.")],
                                       description="Laissez vide si la session n'était pas une formation.")
    resources = MultiCheckboxField("Ressources présentées", choices=[])


class ActionForm(FlaskForm):
    """A button (CSRF only)."""
