from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ep_web.domain.passwords import RULES_TEXT
from ep_web.forms import REQUIRED


class LoginForm(FlaskForm):
    login = StringField("Identifiant", validators=[DataRequired(REQUIRED), Length(max=60)],
                        description="Il figure dans l'e-mail d'ouverture de votre compte. Exemple : T4K7M2QX")
    password = PasswordField("Mot de passe", validators=[DataRequired(REQUIRED), Length(max=128)])


class NewPasswordForm(FlaskForm):
    password = PasswordField("Nouveau mot de passe", validators=[DataRequired(REQUIRED)], description=RULES_TEXT)
    confirm = PasswordField(
        "Confirmez le mot de passe",
        validators=[DataRequired(REQUIRED), EqualTo("password", "Les deux mots de passe ne sont pas identiques.")],
    )


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField("Mot de passe actuel", validators=[DataRequired(REQUIRED)])


class ForgotForm(FlaskForm):
    login = StringField("Identifiant ou adresse e-mail", validators=[DataRequired(REQUIRED), Length(max=254)])


class CguForm(FlaskForm):
    version = HiddenField()
    accept = BooleanField("J'ai lu et j'accepte les conditions générales d'utilisation",
                          validators=[DataRequired("Cochez la case pour accepter les conditions.")])


class CodeForm(FlaskForm):
    """The second step of a login, and the check again before a sensitive act."""

    code = StringField("Code de vérification", validators=[Length(max=40)],
                       description="Les 6 chiffres affichés par votre application, ou un code de secours "
                                   "(10 caractères, par exemple ABCDE-FGHJK).")


class EnrolForm(FlaskForm):
    code = StringField("Code affiché par l'application", validators=[Length(max=40)],
                       description="6 chiffres, sans espace. Il change toutes les 30 secondes.")


class ReauthForm(FlaskForm):
    """Asked again before a sensitive act (SPEC §3). ``ep_reauth`` marks a request
    replayed from this form; the field is a code, or the password of an account
    without a second factor."""

    ep_reauth = HiddenField(default="1")
    ep_reauth_secret = PasswordField("Code de vérification", validators=[Length(max=128)])
