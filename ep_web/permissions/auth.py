"""Activation and reset links (SPEC §3): single-use and time-limited."""
from flask import abort, make_response, render_template

from ep_web.domain.accounts import peek_token
from ep_web.domain.errors import DomainError
from ep_web.models import AccountToken, TokenPurpose


def get_token_or_410(raw: str, purpose: TokenPurpose) -> AccountToken:
    """The token of a link still valid; otherwise the 410 page saying why (unknown,
    used, expired, or the account no longer active) and what to do instead."""
    try:
        return peek_token(raw, purpose)
    except DomainError as exc:
        abort(make_response(render_template("auth/token_invalid.html", message=exc.message), 410))


def pending_account_of(account_id):
    """The account a login held for its second step names (an id from the signed session)."""
    from ep_web.extensions import db
    from ep_web.inputs import coerce_id
    from ep_web.models import Account

    account_id = coerce_id(account_id)
    return db.session.get(Account, account_id) if account_id else None
