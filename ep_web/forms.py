"""Form helpers shared by the areas."""
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ep_web.domain.errors import DomainError

REQUIRED = "Ce champ est obligatoire."


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
    nom = StringField("Nom", validators=[DataRequired(REQUIRED), Length(max=100)])
    prenom = StringField("Prénom", validators=[DataRequired(REQUIRED), Length(max=100)])
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
