"""The shared resources (SPEC §6): every profile reads those it may see at
/ressources; national and the caisses' referents publish theirs at
/ressources/gestion (one blueprint per audience)."""
from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user, login_required

from ep_web.actions import run
from ep_web.clock import today
from ep_web.domain import resources as domain
from ep_web.domain.attachments import send_attachment
from ep_web.models import Profile
from ep_web.permissions import profile_required
from ep_web.permissions.indicateurs import get_managed_resource_or_404, get_resource_or_404
from ep_web.ressources.forms import ActionForm, ResourceForm, SubscriptionForm, VersionForm
from ep_web.transaction import commit

bp = Blueprint("ressources", __name__, url_prefix="/ressources")
admin_bp = Blueprint("ressources_admin", __name__, url_prefix="/ressources/gestion")
publishers = profile_required(Profile.ADMIN_CAISSE, Profile.ADMIN_NATIONAL)


def _actor():
    return current_user._get_current_object()


def _files(name="file"):
    return [f for f in request.files.getlist(name) if f and f.filename]


# ---------------------------------------------------------------- readers


def _index_page(status=200, refusal=None):
    category = request.args.get("categorie", "")
    items = domain.list_for(_actor(), category)
    return render_template("ressources/index.html", items=items, categories=domain.CATEGORIES, category=category,
                           subscribed=domain.is_subscribed(_actor()), form=SubscriptionForm(formdata=None),
                           refusal=refusal), status


@bp.get("")
@login_required
def index():
    return _index_page()


@bp.get("/<int:resource_id>")
@login_required
def show(resource_id: int):
    resource = get_resource_or_404(resource_id)
    return render_template("ressources/show.html", resource=resource, categories=domain.CATEGORIES)


@bp.get("/<int:resource_id>/fichier")
@login_required
def download(resource_id: int):
    """The file, as an attachment (never rendered); each download is audited."""
    resource = get_resource_or_404(resource_id)
    if resource.attachment is None:
        abort(404)
    domain.record_download(_actor(), resource)
    commit()
    return send_attachment(resource.attachment)


@bp.post("/abonnement")
@login_required
def subscription():
    form = SubscriptionForm()
    subscribed = form.subscribe.data == "1"
    return run(lambda: domain.set_subscription(_actor(), subscribed), form=form,
               render=lambda status, refusal: _index_page(status, refusal),
               success=("Vous serez prévenu par e-mail des nouvelles ressources et des nouvelles versions."
                        if subscribed else "Vous ne serez plus prévenu des nouvelles ressources."),
               then=url_for("ressources.index"))


# ---------------------------------------------------------------- publishers


@admin_bp.get("", endpoint="index")
@publishers
def admin_index():
    return render_template("ressources/admin_index.html", items=domain.managed_by(_actor()),
                           categories=domain.CATEGORIES, action_form=ActionForm(formdata=None))


def _new_page(form, status=200):
    return render_template("ressources/form.html", form=form), status


@admin_bp.route("/nouvelle", methods=["GET", "POST"])
@publishers
def new():
    form = ResourceForm()
    if request.method == "GET":
        form.version.data = form.version.data or "1"
        form.published_on.data = today()
        return _new_page(form)
    return run(
        lambda: domain.publish(_actor(), title=form.title.data, description=form.description.data,
                               category=form.category.data, url=form.url.data, version=form.version.data,
                               published_on=form.published_on.data, files=_files()),
        form=form, render=lambda status, refusal: _new_page(form, status),
        success=lambda r: f"La ressource « {r.title} » est publiée.",
        then=lambda r: url_for("ressources.show", resource_id=r.id),
    )


def _version_page(resource, form, status=200):
    return render_template("ressources/version.html", resource=resource, form=form), status


@admin_bp.route("/<int:resource_id>/version", methods=["GET", "POST"])
@publishers
def version(resource_id: int):
    resource = get_managed_resource_or_404(resource_id)
    form = VersionForm()
    if request.method == "GET":
        form.description.data = resource.description
        form.published_on.data = today()
        return _version_page(resource, form)
    return run(
        lambda: domain.new_version(_actor(), resource, version=form.version.data,
                                   published_on=form.published_on.data, description=form.description.data,
                                   url=form.url.data or "", files=_files()),
        form=form, render=lambda status, refusal: _version_page(resource, form, status),
        success=lambda r: f"La version {r.version} de « {r.title} » est publiée.",
        then=lambda r: url_for("ressources.show", resource_id=r.id),
    )


@admin_bp.post("/<int:resource_id>/retirer")
@publishers
def withdraw(resource_id: int):
    resource = get_managed_resource_or_404(resource_id)
    title = resource.title
    return run(lambda: domain.withdraw(_actor(), resource), form=ActionForm(),
               success=f"La ressource « {title} » est retirée.", then=url_for("ressources_admin.index"))
