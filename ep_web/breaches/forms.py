"""Forms of the data-breach reports. The rules live in ep_web.domain.breaches."""
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from ep_web.forms import REQUIRED, choices


def _int_or_none(value):
    try:
        value = int(value)
    except (TypeError, ValueError):
        return None
    return value if 0 < value < 2**31 else None


class BreachForm(FlaskForm):
    caisse_id = SelectField("Caisse à prévenir", coerce=_int_or_none, validate_choice=False,
                            validators=[InputRequired("Choisissez la caisse à prévenir.")])
    description = TextAreaField(
        "Ce qui s'est passé",
        validators=[InputRequired(REQUIRED), Length(max=5000, message="5000 caractères au plus.")],
        description="Les faits, tels que vous les connaissez : par exemple un ordinateur volé avec une session "
                    "ouverte, un document envoyé au mauvais destinataire, un mot de passe communiqué. "
                    "N'écrivez aucun numéro de sécurité sociale.")
    noticed_date = StringField("Date", validators=[InputRequired("Indiquez la date du constat.")],
                               description="Format : jj/mm/aaaa")
    noticed_time = StringField("Heure", validators=[InputRequired("Indiquez l'heure du constat.")],
                               description="Format : hh:mm")
    concerned = TextAreaField(
        "Demandes ou comptes qui peuvent être concernés (facultatif)",
        validators=[Optional(), Length(max=5000, message="5000 caractères au plus.")],
        description="Par exemple : les demandes consultées depuis ce poste, le compte de tel technicien, "
                    "les pièces jointes d'une période. Sans NIR.")
    demande_references = StringField(
        "Références des demandes concernées (facultatif)",
        validators=[Optional(), Length(max=1000, message="1000 caractères au plus.")],
        description="Séparées par des espaces ou des virgules. Exemple : EP-2026-000123, EP-2026-000124")


class QualifyForm(FlaskForm):
    qualification = RadioField("Qualification", choices=choices([
        ("qualifiee", "Violation de données personnelles qualifiée"),
        ("non_qualifiee", "Pas de violation de données personnelles")]),
        validate_choice=False, validators=[InputRequired("Choisissez une qualification.")])
    comment = TextAreaField("Commentaire (facultatif)",
                            validators=[Optional(), Length(max=2000, message="2000 caractères au plus.")])


class CnilForm(FlaskForm):
    notified = RadioField("La CNIL a-t-elle été notifiée ?",
                          choices=choices([("oui", "Oui, la CNIL a été notifiée"),
                                           ("non", "Non, la CNIL n'est pas notifiée")]),
                          validate_choice=False, validators=[InputRequired("Indiquez si la CNIL a été notifiée.")])
    reason = TextAreaField(
        "Motif",
        validators=[InputRequired(REQUIRED), Length(max=2000, message="2000 caractères au plus.")],
        description="Si oui : date et référence de la notification. Si non : pourquoi (par exemple, risque "
                    "improbable pour les droits et libertés des personnes).")


class DpoForm(FlaskForm):
    dpo_email = StringField("Boîte aux lettres du délégué à la protection des données (DPO) de la caisse",
                            validators=[Optional(), Length(max=254, message="254 caractères au plus.")],
                            description="Prévenue dès qu'une violation de données est signalée à la caisse. "
                                        "Vide : la boîte du référent partenariat l'est à sa place.")


class ActionForm(FlaskForm):
    """A bare POST (CSRF only): close."""
