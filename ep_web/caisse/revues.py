"""Control of a partner's access (SPEC §3): suspension of the whole structure
[4.1] and habilitation review campaigns [4.2]."""
from flask import url_for

from ep_web.actions import run
from ep_web.auth.reauth import recent_auth_required
from ep_web.caisse import actor, admin_required, bp
from ep_web.caisse.forms import ActionForm, ReasonForm, ReviewForm
from ep_web.caisse.partenaires import render_partenaire
from ep_web.confirm import ask
from ep_web.domain.partenaires import suspend, unsuspend
from ep_web.domain.reviews import open_review
from ep_web.permissions import get_partenaire_or_404


@bp.post("/partenaires/<int:partenaire_id>/suspendre")
@admin_required
@recent_auth_required
def suspend_partenaire(partenaire_id: int):
    """SPEC §3 [4.1]: the whole partner's access is suspended, sessions end."""
    p = get_partenaire_or_404(partenaire_id)
    form = ReasonForm(prefix="suspend")
    if (form.reason.data or "").strip() and (question := ask(
            "Tous les utilisateurs de la structure sont déconnectés et ne pourront plus se connecter "
            "jusqu'à la levée de la suspension.", title=f"Suspendre l'accès de la structure {p.name}",
            button="Suspendre l'accès", back=url_for("caisse.partenaire", partenaire_id=p.id),
            summary=[("Motif", form.reason.data)])) is not None:
        return question
    return run(lambda: suspend(actor(), p, form.reason.data), form=form,
               render=lambda status, refusal: render_partenaire(p, status, refusal, suspend_form=form),
               success="L'accès de la structure est suspendu : ses utilisateurs sont déconnectés.",
               then=url_for("caisse.partenaire", partenaire_id=p.id))


@bp.post("/partenaires/<int:partenaire_id>/lever-suspension")
@admin_required
def unsuspend_partenaire(partenaire_id: int):
    p = get_partenaire_or_404(partenaire_id)
    return run(lambda: unsuspend(actor(), p), form=ActionForm(),
               render=lambda status, refusal: render_partenaire(p, status, refusal),
               success="La suspension est levée : les utilisateurs de la structure peuvent se reconnecter.",
               then=url_for("caisse.partenaire", partenaire_id=p.id))


@bp.post("/partenaires/<int:partenaire_id>/revue")
@admin_required
def open_review_campaign(partenaire_id: int):
    """SPEC §3 [4.2]: a review campaign with a deadline."""
    p = get_partenaire_or_404(partenaire_id)
    form = ReviewForm(prefix="review")
    return run(lambda: open_review(actor(), p, form.deadline.data), form=form,
               render=lambda status, refusal: render_partenaire(p, status, refusal, review_form=form),
               success="Revue des habilitations ouverte : les gestionnaires sont prévenus par e-mail.",
               then=url_for("caisse.partenaire", partenaire_id=p.id))  # no anchor: see create_gestionnaire_account
