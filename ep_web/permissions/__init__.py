"""Permissions in two layers (redash's way), in one place:

1. a coarse profile check on the route: :func:`profile_required`;
2. an object check once the object is loaded: the ``get_<noun>_or_404``
   loaders, built on the ``can_<verb>_<noun>(user, obj) -> bool`` predicates.

An object outside the user's structure or caisse is a 404: its existence is not
revealed. The domain calls the same predicates (defence in depth), so a rule
about who may see or manage what is written once, here, one module per area.
"""
from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from ep_web.models import Profile


def profile_required(*profiles: Profile):
    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.profile not in profiles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


from ep_web.permissions.demandes import (  # noqa: E402
    can_view_demande,
    get_attachment_or_404,
    get_demande_or_404,
)
from ep_web.permissions.partenaires import (  # noqa: E402
    can_manage_account,
    can_view_account,
    can_view_partenaire,
    get_account_or_404,
    get_convention_or_404,
    get_partenaire_or_404,
    get_request_or_404,
    get_review_or_404,
)
from ep_web.permissions.tickets import can_view_ticket, get_ticket_or_404, ticket_side  # noqa: E402

__all__ = [
    "profile_required",
    "can_view_demande", "get_demande_or_404", "get_attachment_or_404",
    "can_manage_account", "can_view_account", "can_view_partenaire", "get_account_or_404",
    "get_convention_or_404", "get_partenaire_or_404",
    "get_request_or_404", "get_review_or_404",
    "can_view_ticket", "get_ticket_or_404", "ticket_side",
]

from ep_web.permissions.breaches import (  # noqa: E402
    can_follow_up_breach,
    can_report_breach,
    can_view_breach,
    get_breach_or_404,
)
from ep_web.permissions.demandes import get_service_or_404  # noqa: E402
from ep_web.permissions.maintenance import get_window_or_404  # noqa: E402
from ep_web.permissions.national import (  # noqa: E402
    can_manage_caisse,
    get_caisse_or_404,
    get_outbox_email_or_404,
    get_referent_or_404,
)
from ep_web.permissions.news import (  # noqa: E402
    can_manage_news,
    can_read_news,
    get_caisse_news_or_404,
    get_news_or_404,
)

__all__ += [
    "can_follow_up_breach", "can_report_breach", "can_view_breach", "get_breach_or_404",
    "get_service_or_404",
    "get_window_or_404",
    "can_manage_caisse", "get_caisse_or_404", "get_outbox_email_or_404", "get_referent_or_404",
    "can_manage_news", "can_read_news", "get_caisse_news_or_404", "get_news_or_404",
]
