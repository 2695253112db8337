"""Forms of the shared resources (SPEC §6)."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from ep_web.caisse.forms import FrenchDateField
from ep_web.domain.resources import CATEGORIES
from ep_web.forms import REQUIRED, choices


class ResourceForm(FlaskForm):
    title = StringField("Titre", validators=[InputRequired(REQUIRED),
                                             Length(max=200, message="200 caractères au plus.")])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000,
                                                                               message="2 000 caractères au plus.")],
                                description="À quoi sert le document, à qui il s'adresse.")
    category = SelectField("Catégorie", choices=choices([("", "— Choisir une catégorie —"), *CATEGORIES.items()]),
                           validate_choice=False)
    file = FileField("Fichier (PDF, JPEG ou PNG, 10 Mo au plus)")
    url = StringField("Ou un lien", validators=[Optional(), Length(max=500, message="500 caractères au plus.")],
                      description="Une adresse complète, par exemple https://www.ameli.fr/…")
    version = StringField("Version", validators=[InputRequired(REQUIRED),
                                                 Length(max=30, message="30 caractères au plus.")],
                          description="Par exemple 1, 2026-03 ou v2")
    published_on = FrenchDateField("Date de la version", validators=[InputRequired(REQUIRED)])


class VersionForm(FlaskForm):
    version = StringField("Nouvelle version", validators=[InputRequired(REQUIRED),
                                                          Length(max=30, message="30 caractères au plus.")])
    published_on = FrenchDateField("Date de la version", validators=[InputRequired(REQUIRED)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000,
                                                                               message="2 000 caractères au plus.")])
    file = FileField("Nouveau fichier (PDF, JPEG ou PNG)", description="Laissez vide pour garder le fichier actuel.")
    url = StringField("Ou un nouveau lien", validators=[Optional(), Length(max=500, message="500 caractères au plus.")])


class SubscriptionForm(FlaskForm):
    subscribe = StringField()


class ActionForm(FlaskForm):
    """A button (CSRF only)."""
