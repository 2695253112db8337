"""Forms of the gestionnaire area. The rules (quotas, professional e-mail,
15-day notice...) live in ep_web.domain: these forms only check shapes."""
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, Optional

from ep_web.forms import REQUIRED, FrenchDateField, IdentityForm, coerce_choice_id
from ep_web.models import ReviewDecision


class TechnicienForm(IdentityForm):
    """A new technicien (SPEC §3): the identity fields, e-mail professional."""


class ActionForm(FlaskForm):
    """A bare POST (CSRF only): reactivate, resend the activation link."""


def _int_or_none(value):
    try:
        return int(value) if value not in (None, "") and len(str(value)) < 10 else None
    except (TypeError, ValueError):
        return None


class InactivateForm(FlaskForm):
    reason = StringField("Motif (facultatif)",
                         validators=[Optional(), Length(max=1000, message="1000 caractères au plus.")])
    # SPEC §6 hand-over: the colleague who follows the leaving technicien's open demandes.
    colleague_id = SelectField("Technicien qui suivra ses demandes en cours", coerce=_int_or_none,
                               validate_choice=False, validators=[Optional()])


class MailboxForm(FlaskForm):
    """SPEC §6: the structure's shared mailbox (empty: none)."""

    address = StringField("Adresse de la boîte aux lettres de la structure",
                          validators=[Optional(), Length(max=254, message="254 caractères au plus.")],
                          description="Une adresse professionnelle de la structure, par exemple accueil@structure.fr. "
                                      "Laissez vide pour ne plus en utiliser.")


class MisuseForm(FlaskForm):
    reason = StringField(
        "Usage frauduleux constaté",
        validators=[DataRequired("Décrivez en quelques mots l'usage frauduleux constaté."),
                    Length(max=500, message="500 caractères au plus.")],
        description="Quelques mots suffisent : le compte sera inactivé tout de suite et la caisse prévenue.",
    )


class _CaisseMixin:
    """The caisse the request goes to, among the conventions in force."""

    def set_caisses(self, conventions) -> None:
        choices = [SelectChoice(c.caisse.id, c.caisse.name) for c in sorted(conventions, key=lambda c: c.caisse.name)]
        if len(choices) != 1:
            choices = [SelectChoice("", "— Choisir une caisse —")] + choices
        self.caisse_id.choices = choices


class CreationRequestForm(_CaisseMixin, IdentityForm):
    """Ask the caisse for a new gestionnaire (SPEC §3 [2.2.1])."""

    caisse_id = SelectField("Caisse destinataire", coerce=coerce_choice_id, validate_choice=False,
                            validators=[DataRequired("Choisissez la caisse destinataire.")])
    comment = TextAreaField("Commentaire pour la caisse (facultatif)",
                            validators=[Optional(), Length(max=2000, message="2000 caractères au plus.")])


class ModificationRequestForm(_CaisseMixin, IdentityForm):
    """Ask the caisse to change a gestionnaire's data (SPEC §3 [2.2.2])."""

    caisse_id = SelectField("Caisse destinataire", coerce=coerce_choice_id, validate_choice=False,
                            validators=[DataRequired("Choisissez la caisse destinataire.")])
    target_id = HiddenField(validators=[DataRequired("Choisissez le gestionnaire à modifier.")])
    comment = TextAreaField("Commentaire pour la caisse (facultatif)",
                            validators=[Optional(), Length(max=2000, message="2000 caractères au plus.")])


class InactivationRequestForm(_CaisseMixin, FlaskForm):
    """Ask the caisse to inactivate a gestionnaire on a date (SPEC §3 [2.2.3])."""

    caisse_id = SelectField("Caisse destinataire", coerce=coerce_choice_id, validate_choice=False,
                            validators=[DataRequired("Choisissez la caisse destinataire.")])
    target_id = SelectField("Gestionnaire qui quitte la structure", coerce=coerce_choice_id, validate_choice=False,
                            validators=[DataRequired("Choisissez le gestionnaire à inactiver.")])
    wished_date = FrenchDateField("Date d'inactivation souhaitée",
                                  invalid_message="Date invalide : utilisez le format jj/mm/aaaa.",
                                  validators=[InputRequired("Indiquez la date souhaitée, au format jj/mm/aaaa.")])
    comment = TextAreaField("Commentaire pour la caisse (facultatif)",
                            validators=[Optional(), Length(max=2000, message="2000 caractères au plus.")])

    def set_targets(self, gestionnaires) -> None:
        self.target_id.choices = [SelectChoice("", "— Choisir un gestionnaire —")] + [
            SelectChoice(g.id, f"{g.full_name} ({g.email})") for g in gestionnaires
        ]


class ReviewAnswerForm(FlaskForm):
    """Confirm or inactivate one account of a habilitation review (SPEC §3 [4.2])."""

    decision = HiddenField(validators=[DataRequired(REQUIRED), AnyOf(
        [d.value for d in ReviewDecision], message="Choisissez de confirmer ou d'inactiver le compte.")])
    reason = StringField("Motif (facultatif)",
                         validators=[Optional(), Length(max=1000, message="1000 caractères au plus.")])
