"""Forms of the notification centre and of « Mon compte » (SPEC §6)."""
from flask_wtf import FlaskForm
from wtforms import RadioField

from ep_web.forms import choices
from ep_web.models import KINDS_BY_PROFILE, EmailMode

MODE_CHOICES = choices([(m.value, m.label) for m in EmailMode])


class ActionForm(FlaskForm):
    """A bare POST (CSRF only): « Tout marquer comme lu »."""


def preferences_form(profile: str, current: dict, formdata=None) -> FlaskForm:
    """One radio group per kind of event the profile receives (``pref_<kind>``)."""

    class PreferencesForm(FlaskForm):
        pass

    for kind in KINDS_BY_PROFILE[profile]:
        setattr(PreferencesForm, f"pref_{kind.value}",
                RadioField(kind.label, choices=MODE_CHOICES, validate_choice=False,
                           default=current.get(kind, EmailMode.IMMEDIATE).value))
    form = PreferencesForm(formdata=formdata) if formdata is not None else PreferencesForm()
    form.kinds = [getattr(form, f"pref_{k.value}") for k in KINDS_BY_PROFILE[profile]]
    return form
