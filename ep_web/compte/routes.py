"""Mon compte (SPEC §3), for every profile: the account's own details, its
second factor and recovery codes, its open sessions ("each user sees and can
close their open sessions"); and the manager's reset of someone's lost second
factor."""
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ep_web.actions import run
from ep_web.auth.forms import EnrolForm
from ep_web.auth.reauth import recent_auth_required
from ep_web.auth.routes import _safe_next
from ep_web.compte.forms import ActionForm
from ep_web.confirm import ask
from ep_web.domain import second_factor, sessions
from ep_web.forms import EmptyForm
from ep_web.permissions.compte import get_session_or_404
from ep_web.permissions.identity import get_second_factor_account_or_404
from ep_web.transaction import commit

bp = Blueprint("compte", __name__)


def _de(name: str) -> str:
    return current_app.jinja_env.filters["de"](name)


def _me():
    return current_user._get_current_object()


@bp.get("/compte")
@bp.get("/compte/")
@login_required
def index():
    return _index_page()


def _index_page(refusal: str | None = None):
    me = _me()
    return render_template(
        "compte/index.html", account=me, refusal=refusal, required=second_factor.required(me),
        in_grace=second_factor.in_grace(me),
        remaining=second_factor.remaining_recovery_codes(me) if me.has_second_factor else 0, form=EmptyForm(),
        open_count=len(sessions.open_sessions(me)),
    )


@bp.route("/compte/double-authentification", methods=["GET", "POST"])
@login_required
def enrol():
    """SPEC §3: a QR code and the secret for manual entry, confirmed by a first
    code; then the 10 recovery codes, shown once."""
    me = _me()
    next_url = _safe_next(request.args.get("next"))
    if me.has_second_factor:
        return redirect(url_for("compte.index"))
    form = EnrolForm()
    secret = second_factor.pending_secret(me)
    if not form.is_submitted():
        commit()  # the secret the phone will hold must survive a reload
    uri = second_factor.provisioning_uri(me, secret)

    def render(status: int, refusal: str | None = None):
        return render_template("compte/enrol.html", form=form, secret=secret, qr=second_factor.qr_svg(uri),
                               grace=second_factor.in_grace(me), account=me, next_url=next_url), status

    if not form.is_submitted():
        return render(200)
    return run(lambda: second_factor.confirm_enrolment(me, form.code.data, ip=request.remote_addr or ""),
               form=form, render=render,
               done=lambda codes: render_template("compte/recovery_codes.html", codes=codes, enrolled=True,
                                                  next_url=next_url or url_for("main.index")))


@bp.post("/compte/codes-de-secours")
@login_required
@recent_auth_required
def regenerate_codes():
    """SPEC §3: new recovery codes replace the old ones (after a recent check)."""
    form = EmptyForm()
    if (question := ask("Vos codes de secours actuels ne fonctionneront plus : seuls les nouveaux, affichés une "
                        "fois, serviront.", title="Générer de nouveaux codes de secours",
                        button="Générer de nouveaux codes", back=url_for("compte.index"))) is not None:
        return question
    return run(lambda: second_factor.regenerate_recovery_codes(_me(), ip=request.remote_addr or ""),
               form=form, then=url_for("compte.index"), render=lambda status, refusal: (_index_page(refusal), status),
               done=lambda codes: render_template("compte/recovery_codes.html", codes=codes, enrolled=False,
                                                  next_url=url_for("compte.index")))


@bp.post("/comptes/<int:account_id>/double-authentification/reinitialiser")
@login_required
@recent_auth_required
def reset_second_factor(account_id: int):
    """SPEC §3 (lost phone): the account's manager resets its second factor."""
    account = get_second_factor_account_or_404(account_id)
    back = _safe_next(request.args.get("next")) or url_for("main.index")
    if (question := ask(f"La double authentification {_de(account.full_name)} sera réinitialisée : elle devra la "
                        "configurer à nouveau à sa prochaine connexion.",
                        title=f"Réinitialiser la double authentification {_de(account.full_name)}",
                        button="Réinitialiser", back=back)) is not None:
        return question
    return run(lambda: second_factor.reset(_me(), account, ip=request.remote_addr or ""),
               form=EmptyForm(), then=back,
               success=f"La double authentification {_de(account.full_name)} est réinitialisée : "
                       "un e-mail l'en informe ; elle la configurera à sa prochaine connexion.")


def _sessions_page(status: int = 200, refusal: str | None = None):
    actor = _me()
    rows = sessions.open_sessions(actor)
    return render_template("compte/sessions.html", rows=rows, current_id=actor.current_session.id,
                           describe=sessions.describe_user_agent, form=ActionForm(), refusal=refusal), status


@bp.get("/compte/sessions")
@login_required
def sessions_page():
    return _sessions_page()


@bp.post("/compte/sessions/<int:session_id>/fermer")
@login_required
def close(session_id: int):
    user_session = get_session_or_404(session_id)
    actor = _me()
    return run(lambda: sessions.close_session(actor, user_session, actor.current_session.id),
               form=ActionForm(), render=_sessions_page,
               success="La session est fermée : ce navigateur devra se reconnecter.",
               then=url_for("compte.sessions_page"))


@bp.post("/compte/sessions/fermer-les-autres")
@login_required
def close_others():
    actor = _me()

    def success(ended: int) -> str:
        if not ended:
            return "Aucune autre session n'était ouverte."
        return "Toutes vos autres sessions sont fermées." if ended > 1 else "Votre autre session est fermée."

    return run(lambda: sessions.close_other_sessions(actor, actor.current_session.id),
               form=ActionForm(), render=_sessions_page, success=success, then=url_for("compte.sessions_page"))


@bp.post("/compte/session/prolonger")
@login_required
def keepalive():
    """SPEC §8: "Rester connecté", and typing in a form: any request marks the
    session active (ep_web.domain.sessions.touch, before the view); nothing else."""
    return "", 204
