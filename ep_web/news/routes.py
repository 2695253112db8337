"""News (SPEC §6): partner users read them at /actualites; the caisse's
referent writes them at /caisse/actualites. Two blueprints, one per audience."""
from flask import Blueprint, render_template, url_for
from flask_login import current_user

from ep_web.actions import first_error, run
from ep_web.clock import now
from ep_web.confirm import ask
from ep_web.domain import news as domain
from ep_web.models import PARTENAIRE_TYPE_LABELS, News, PartenaireType, Profile
from ep_web.news.forms import ActionForm, DigestForm, NewsForm
from ep_web.permissions import get_caisse_news_or_404, get_news_or_404, profile_required
from ep_web.transaction import commit

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

def _index_page(status: int = 200, refusal: str | None = None):
    items = domain.news_for_partner(_actor())
    unread = sum(1 for _, read in items if not read)
    return render_template("news/index.html", items=items, unread=unread, digest_form=DigestForm(formdata=None),
                           refusal=refusal), status


@bp.get("")
@partner_only
def index():
    return _index_page()


@bp.get("/<int:news_id>")
@partner_only
def show(news_id: int):
    news = get_news_or_404(news_id)
    domain.mark_read(_actor(), news)
    commit()
    return render_template("news/show.html", news=news, targets=target_labels(news))


@bp.post("/abonnement")
@partner_only
def digest():
    form = DigestForm()
    subscribed = form.subscribe.data == "1"
    return run(
        lambda: domain.set_digest(_actor(), subscribed), form=form,
        render=lambda status, refusal: _index_page(status, refusal or first_error(form)),
        success=("Vous recevrez chaque semaine par e-mail un résumé des nouvelles actualités." if subscribed
                 else "Vous ne recevrez plus le résumé des actualités par e-mail."),
        then=url_for("news.index"),
    )


# ---------------------------------------------------------------- the caisse's referent

@admin_bp.get("", endpoint="index")
@admin_only
def admin_index():
    items = domain.caisse_news(current_user.caisse_id)
    return render_template("news/admin_index.html", items=items, reads=domain.read_counts([n.id for n in items]),
                           at=now(), target_labels=target_labels)


def _form_page(form: NewsForm, news: News | None = None, status: int = 200):
    # A refusal shows at the top of the form (form_error), like any other.
    return render_template("news/form.html", form=form, news=news), status


def _data(form: NewsForm) -> dict:
    return dict(title=form.title.data or "", body=form.body.data or "", publish_at=form.publish_at.data,
                target_types=form.target_types.data or [])


@admin_bp.get("/nouvelle")
@admin_only
def new():
    form = NewsForm(formdata=None)
    form.publish_at.data = now()
    return _form_page(form)


@admin_bp.post("/nouvelle")
@admin_only
def create():
    form = NewsForm()
    return run(
        lambda: domain.create_news(_actor(), **_data(form)), form=form,
        render=lambda status, refusal: _form_page(form, None, status),
        success=lambda news: ("L'actualité est publiée." if news.publish_at <= now() else
                              "L'actualité est enregistrée : les partenaires la verront à la date de publication."),
        then=lambda news: url_for("caisse_news.show", news_id=news.id),
    )


def _admin_show_page(news: News, status: int = 200, refusal: str | None = None):
    return render_template("news/admin_show.html", news=news, targets=target_labels(news), at=now(),
                           reads=domain.read_counts([news.id]).get(news.id, 0), action_form=ActionForm(formdata=None),
                           refusal=refusal), status


@admin_bp.get("/<int:news_id>", endpoint="show")
@admin_only
def admin_show(news_id: int):
    return _admin_show_page(get_caisse_news_or_404(news_id))


@admin_bp.get("/<int:news_id>/modifier")
@admin_only
def edit(news_id: int):
    news = get_caisse_news_or_404(news_id)
    form = NewsForm(formdata=None, data={"title": news.title, "body": news.body_markdown,
                                         "publish_at": news.publish_at, "target_types": list(news.target_types or [])})
    return _form_page(form, news)


@admin_bp.post("/<int:news_id>/modifier")
@admin_only
def update(news_id: int):
    news = get_caisse_news_or_404(news_id)
    form = NewsForm()
    return run(
        lambda: domain.update_news(_actor(), news, **_data(form)), form=form,
        render=lambda status, refusal: _form_page(form, news, status),
        success="L'actualité est modifiée.", then=url_for("caisse_news.show", news_id=news.id),
    )


@admin_bp.post("/<int:news_id>/supprimer")
@admin_only
def delete(news_id: int):
    news = get_caisse_news_or_404(news_id)
    title = news.title
    if (question := ask("L'actualité sera supprimée : les partenaires ne la verront plus.",
                        title=f"Supprimer l'actualité « {title} »", button="Supprimer l'actualité",
                        back=url_for("caisse_news.show", news_id=news.id))) is not None:
        return question
    return run(
        lambda: domain.delete_news(_actor(), news), form=ActionForm(),
        render=lambda status, refusal: _admin_show_page(news, status, refusal),
        success=f"L'actualité « {title} » est supprimée.", then=url_for("caisse_news.index"),
    )
