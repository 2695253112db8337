"""Forms of the maintenance area (national admin). The rules live in
ep_web.domain.maintenance; these forms only check shapes, in French."""
from datetime import datetime, timezone

from flask_wtf import FlaskForm
from wtforms import Field, TextAreaField
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import DateTimeLocalInput

from ep_web.clock import PARIS, to_paris

_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M", "%d/%m/%Y à %H:%M")


class ParisDateTimeField(Field):
    """A date and time typed in Europe/Paris local time (``<input
    type="datetime-local">``, or by hand "15/05/2026 20:00"); ``data`` is an
    aware UTC datetime. A French message when it cannot be read."""

    widget = DateTimeLocalInput()

    def __init__(self, label=None, validators=None,
                 invalid_message="Date et heure invalides. Exemple : 15/05/2026 20:00", **kw):
        super().__init__(label, validators, **kw)
        self.invalid_message = invalid_message

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        return to_paris(self.data).strftime("%Y-%m-%dT%H:%M") if isinstance(self.data, datetime) else ""

    def process_formdata(self, valuelist):
        self.data = None
        raw = (valuelist[0] if valuelist else "").strip()
        if not raw:
            return
        for fmt in _FORMATS:
            try:
                local = datetime.strptime(raw, fmt)
            except ValueError:
                continue
            self.data = local.replace(tzinfo=PARIS).astimezone(timezone.utc)
            return
        raise ValueError(self.invalid_message)


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
