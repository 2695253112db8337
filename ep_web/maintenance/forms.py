"""Forms of the maintenance area (national admin). The rules live in
ep_web.domain.maintenance; these forms only check shapes, in French."""
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from ep_web.forms import ParisDateTimeField


class MaintenanceForm(FlaskForm):
    starts_at = ParisDateTimeField("Début (heure de Paris)", validators=[InputRequired("Indiquez le début.")])
    ends_at = ParisDateTimeField("Fin (heure de Paris)", validators=[InputRequired("Indiquez la fin.")])
    message = TextAreaField(
        "Message aux utilisateurs (facultatif)",
        validators=[Optional(), Length(max=1000, message="1000 caractères au plus.")],
        description="Affiché dans le bandeau d'annonce et sur la page de maintenance. "
        "Exemple : mise à jour de sécurité du portail.",
    )


class ActionForm(FlaskForm):
    """A bare POST (CSRF only): cancel or end a window."""
