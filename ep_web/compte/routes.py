"""« Mon compte » (every profile): who I am, my password, my open sessions
(SPEC §3: "each user sees and can close their open sessions")."""
from flask import Blueprint, render_template, url_for
from flask_login import current_user, login_required

from ep_web.actions import run
from ep_web.compte.forms import ActionForm
from ep_web.domain import sessions
from ep_web.permissions.compte import get_session_or_404

bp = Blueprint("compte", __name__, url_prefix="/compte")


def _actor():
    return current_user._get_current_object()


@bp.get("/")
@login_required
def index():
    return render_template("compte/index.html", open_count=len(sessions.open_sessions(_actor())))


def _sessions_page(status: int = 200, refusal: str | None = None):
    actor = _actor()
    rows = sessions.open_sessions(actor)
    return render_template("compte/sessions.html", rows=rows, current_id=actor.current_session.id,
                           describe=sessions.describe_user_agent, form=ActionForm(), refusal=refusal), status


@bp.get("/sessions")
@login_required
def sessions_page():
    return _sessions_page()


@bp.post("/sessions/<int:session_id>/fermer")
@login_required
def close(session_id: int):
    user_session = get_session_or_404(session_id)
    actor = _actor()
    return run(lambda: sessions.close_session(actor, user_session, actor.current_session.id),
               form=ActionForm(), render=_sessions_page,
               success="La session est fermée : ce navigateur devra se reconnecter.",
               then=url_for("compte.sessions_page"))


@bp.post("/sessions/fermer-les-autres")
@login_required
def close_others():
    actor = _actor()

    def success(ended: int) -> str:
        if not ended:
            return "Aucune autre session n'était ouverte."
        return "Toutes vos autres sessions sont fermées." if ended > 1 else "Votre autre session est fermée."

    return run(lambda: sessions.close_other_sessions(actor, actor.current_session.id),
               form=ActionForm(), render=_sessions_page, success=success, then=url_for("compte.sessions_page"))
