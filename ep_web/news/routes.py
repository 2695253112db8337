"""News (SPEC §6): partner users read them at /actualites; the caisse's
referent writes them at /caisse/actualites. Two blueprints, one per audience."""
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from ep_web.clock import now
from ep_web.domain import news as domain
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.forms import attach_error
from ep_web.models import PARTENAIRE_TYPE_LABELS, News, PartenaireType, Profile
from ep_web.news.forms import ActionForm, DigestForm, NewsForm
from ep_web.permissions import profile_required
from ep_web.transaction import commit, rollback

bp = Blueprint("news", __name__, url_prefix="/actualites")
admin_bp = Blueprint("caisse_news", __name__, url_prefix="/caisse/actualites")

partner_only = profile_required(Profile.TECHNICIEN, Profile.GESTIONNAIRE)
admin_only = profile_required(Profile.ADMIN_CAISSE)


def _actor():
    return current_user._get_current_object()


def target_labels(news: News) -> list[str]:
    return [PARTENAIRE_TYPE_LABELS[PartenaireType(v)] for v in news.target_types or []
            if v in PartenaireType._value2member_map_]


# ---------------------------------------------------------------- partner users

@bp.get("")
@partner_only
def index():
    items = domain.news_for_partner(_actor())
    unread = sum(1 for _, read in items if not read)
    return render_template("news/index.html", items=items, unread=unread, digest_form=DigestForm(formdata=None))


@bp.get("/<int:news_id>")
@partner_only
def show(news_id: int):
    news = db.session.get(News, news_id)
    if news is None or not domain.can_read(_actor(), news):
        abort(404)
    domain.mark_read(_actor(), news)
    commit()
    return render_template("news/show.html", news=news, targets=target_labels(news))


@bp.post("/abonnement")
@partner_only
def digest():
    form = DigestForm()
    if not form.validate() or form.subscribe.data not in ("0", "1"):
        flash("Choix d'abonnement non compris : recommencez.", "error")
        return redirect(url_for("news.index"), 303)
    subscribed = form.subscribe.data == "1"
    domain.set_digest(_actor(), subscribed)
    commit()
    flash("Vous recevrez chaque semaine par e-mail un résumé des nouvelles actualités." if subscribed
          else "Vous ne recevrez plus le résumé des actualités par e-mail.", "success")
    return redirect(url_for("news.index"), 303)


# ---------------------------------------------------------------- the caisse's referent

def _get_caisse_news_or_404(news_id: int) -> News:
    news = db.session.get(News, news_id)
    if news is None or news.caisse_id != current_user.caisse_id:
        abort(404)
    return news


@admin_bp.get("", endpoint="index")
@admin_only
def admin_index():
    items = domain.caisse_news(current_user.caisse_id)
    return render_template("news/admin_index.html", items=items, reads=domain.read_counts([n.id for n in items]),
                           at=now(), target_labels=target_labels)


def _form_page(form: NewsForm, news: News | None = None, status: int = 200):
    return render_template("news/form.html", form=form, news=news), status


@admin_bp.get("/nouvelle")
@admin_only
def new():
    form = NewsForm(formdata=None)
    form.publish_at.data = now()
    return _form_page(form)


def _save(form: NewsForm, news: News | None):
    if not form.validate():
        return None, _form_page(form, news, 422)
    data = dict(title=form.title.data or "", body=form.body.data or "", publish_at=form.publish_at.data,
                target_types=form.target_types.data or [])
    try:
        if news is None:
            news = domain.create_news(_actor(), **data)
        else:
            domain.update_news(_actor(), news, **data)
    except NotAllowed:
        rollback()
        abort(403)
    except DomainError as exc:
        rollback()
        attach_error(form, exc)
        return None, _form_page(form, news, 422)
    commit()
    return news, None


@admin_bp.post("/nouvelle")
@admin_only
def create():
    news, error = _save(NewsForm(), None)
    if error:
        return error
    flash("L'actualité est publiée." if news.publish_at <= now()
          else "L'actualité est enregistrée : les partenaires la verront à la date de publication.", "success")
    return redirect(url_for("caisse_news.show", news_id=news.id), 303)


@admin_bp.get("/<int:news_id>", endpoint="show")
@admin_only
def admin_show(news_id: int):
    news = _get_caisse_news_or_404(news_id)
    return render_template("news/admin_show.html", news=news, targets=target_labels(news), at=now(),
                           reads=domain.read_counts([news.id]).get(news.id, 0), action_form=ActionForm(formdata=None))


@admin_bp.get("/<int:news_id>/modifier")
@admin_only
def edit(news_id: int):
    news = _get_caisse_news_or_404(news_id)
    form = NewsForm(formdata=None, data={"title": news.title, "body": news.body_markdown,
                                         "publish_at": news.publish_at, "target_types": list(news.target_types or [])})
    return _form_page(form, news)


@admin_bp.post("/<int:news_id>/modifier")
@admin_only
def update(news_id: int):
    news = _get_caisse_news_or_404(news_id)
    news, error = _save(NewsForm(), news)
    if error:
        return error
    flash("L'actualité est modifiée.", "success")
    return redirect(url_for("caisse_news.show", news_id=news.id), 303)


@admin_bp.post("/<int:news_id>/supprimer")
@admin_only
def delete(news_id: int):
    news = _get_caisse_news_or_404(news_id)
    if not ActionForm().validate():
        abort(400)
    title = news.title
    domain.delete_news(_actor(), news)
    commit()
    flash(f"L'actualité « {title} » est supprimée.", "success")
    return redirect(url_for("caisse_news.index"), 303)
