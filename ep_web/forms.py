"""Form helpers shared by the areas: the fields that read what a person types
(dates, ids) through ep_web.inputs, and the person-name check."""
from datetime import date, datetime, timezone

from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import Field, RadioField, StringField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import DateInput, DateTimeLocalInput, Select
from wtforms.widgets.core import clean_key

from ep_web.clock import PARIS, to_paris
from ep_web.domain.errors import DomainError
from ep_web.domain.names import check_person_name
from ep_web.inputs import coerce_id, parse_date, parse_datetime

REQUIRED = "Ce champ est obligatoire."


def coerce_choice_id(value) -> int | None:
    """``coerce`` of the id selects: an id the database can hold, or None."""
    return coerce_id(value)


class FrenchDateField(Field):
    """A date typed in an <input type="date"> (ISO) or by hand ("15/05/2026",
    "15 / 5 / 2026", "15.05.2026"), read leniently by ep_web.inputs.parse_date,
    with a French message when it cannot be read (WTForms' own is English).
    Require it with InputRequired: DataRequired would replace the
    "date invalide" message with "obligatoire"."""

    widget = DateInput()

    def __init__(self, label=None, validators=None, invalid_message="Date invalide. Exemple : 15/05/2026", **kw):
        super().__init__(label, validators, **kw)
        self.invalid_message = invalid_message

    def _value(self):
        if self.raw_data:
            return " ".join(str(v) for v in self.raw_data)
        return self.data.isoformat() if isinstance(self.data, date) else ""

    def process_formdata(self, valuelist):
        self.data = None
        raw = str(valuelist[0] if valuelist else "").strip()
        if not raw:
            return
        self.data = parse_date(raw)
        if self.data is None:
            raise ValueError(self.invalid_message)


class ParisDateTimeField(Field):
    """A date and time typed in Europe/Paris local time (``<input
    type="datetime-local">``, or by hand "15/05/2026 20:00", "15/05/2026 à 20h");
    ``data`` is an aware UTC datetime. A French message when it cannot be read."""

    widget = DateTimeLocalInput()

    def __init__(self, label=None, validators=None,
                 invalid_message="Date et heure invalides. Exemple : 15/05/2026 20:00", **kw):
        super().__init__(label, validators, **kw)
        self.invalid_message = invalid_message

    def _value(self):
        if self.raw_data:
            return " ".join(str(v) for v in self.raw_data)
        return to_paris(self.data).strftime("%Y-%m-%dT%H:%M") if isinstance(self.data, datetime) else ""

    def process_formdata(self, valuelist):
        self.data = None
        raw = str(valuelist[0] if valuelist else "").strip()
        if not raw:
            return
        local = parse_datetime(raw)
        if local is None:
            raise ValueError(self.invalid_message)
        self.data = local.replace(tzinfo=PARIS).astimezone(timezone.utc)


class PersonName:
    """WTForms validator: a person's name (ep_web.domain.names, SPEC §8)."""

    def __call__(self, form, field):
        if not field.data:
            return
        try:
            check_person_name(field.data, field.name)
        except DomainError as exc:
            raise ValidationError(exc.message) from None


def fast_html_params(**kwargs) -> str:
    """``wtforms.widgets.html_params``, the same output, without a Markup and a
    ``Markup.format`` per attribute (the widgets of the list filters, rendered
    on every page view)."""
    params = []
    for key, value in sorted(kwargs.items()):
        key = clean_key(key)
        if value is True:
            params.append(key)
        elif value is not False:
            params.append(f'{key}="{escape(value)}"')
    return " ".join(params)


def list_widget(widget_class):
    """A WTForms input widget (TextInput, DateInput, CheckboxInput…) writing
    its attributes with fast_html_params: the same markup, for the list filters."""
    return type(f"List{widget_class.__name__}", (widget_class,), {"html_params": staticmethod(fast_html_params)})()


class ListSelect(Select):
    """WTForms' select, the same markup, for the filters of the lists
    (history, queue) rendered on every page view: one string per option
    instead of WTForms' attribute dictionaries and Markup objects (a third of
    the filter form's rendering). Choices with groups or render_kw, and
    required or disabled fields, are left to WTForms."""

    def __call__(self, field, **kwargs):
        flags = field.flags
        if flags.required or flags.disabled or field.has_groups():
            return super().__call__(field, **kwargs)
        kwargs.setdefault("id", field.id)
        html = [f"<select {fast_html_params(name=field.name, **kwargs)}>"]
        coerce, data = field.coerce, field.data
        for choice in field.choices or ():
            if isinstance(choice, SelectChoice):
                if choice.render_kw:
                    return super().__call__(field, **kwargs)
                value, label = choice.value, choice.label
            else:
                value, label = choice
            selected = " selected" if coerce(value) == data else ""
            label = escape(label or value)
            html.append(f'<option{selected} value="{escape(str(value))}">{label}</option>')
        html.append("</select>")
        return Markup("".join(html))


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms 3.3 SelectChoice objects."""
    return [SelectChoice(value, label) for value, label in pairs]


def attach_error(form: FlaskForm, exc: DomainError) -> None:
    """Show a domain refusal next to its field, or at the top of the form
    (with the other errors the rule found in the same pass)."""
    for message, name in [(exc.message, exc.field), *getattr(exc, "others", [])]:
        field = getattr(form, name, None) if name else None
        if field is not None:
            field.errors = list(field.errors or []) + [message]
        else:
            form.form_errors = list(getattr(form, "form_errors", []) or []) + [message]


def _as_validation(check) -> None:
    try:
        check()
    except DomainError as exc:
        raise ValidationError(exc.message) from None


class IdentityForm(FlaskForm):
    """The account identity fields of SPEC §3 (civilité, nom, prénom, fonction,
    téléphone, e-mail)."""

    civilite = RadioField("Civilité", choices=choices([("Mme", "Madame"), ("M.", "Monsieur")]),
                          validators=[DataRequired(REQUIRED)])
    nom = StringField("Nom", validators=[DataRequired(REQUIRED), Length(max=100), PersonName()])
    prenom = StringField("Prénom", validators=[DataRequired(REQUIRED), Length(max=100), PersonName()])
    fonction = StringField("Fonction", validators=[Optional(), Length(max=150)])
    telephone = TelField("Téléphone professionnel", validators=[Optional(), Length(max=30)])
    email = StringField("Adresse e-mail professionnelle", validators=[DataRequired(REQUIRED), Length(max=254)],
                        description="Les messageries personnelles (gmail, orange, free…) sont refusées.")

    # Format checks in the form's own pass, so that every error shows at once;
    # the same functions as the domain's (which checks again, with the database).
    def validate_email(self, field) -> None:
        from ep_web.domain.accounts import normalize_email

        _as_validation(lambda: normalize_email(field.data or ""))

    def validate_telephone(self, field) -> None:
        from ep_web.domain.accounts import check_phone

        _as_validation(lambda: check_phone(field.data or ""))

    def identity(self) -> dict:
        return {k: getattr(self, k).data or "" for k in ("civilite", "nom", "prenom", "fonction", "telephone", "email")}


class EmptyForm(FlaskForm):
    """A button that posts nothing but its CSRF token."""
