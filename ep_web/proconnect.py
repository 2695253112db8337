"""ProConnect (OpenID Connect), an optional way in (SPEC §3).

Authlib's Flask client does the protocol: discovery, the authorization code
flow with PKCE (S256), the state and nonce kept in the session and checked on
return, the id_token's signature (the provider's JWKS), issuer, audience and
expiry. This module adds ProConnect's habits (a userinfo answered as a signed
JWT, the acr/amr that say a second factor was used) and turns every failure
into a French message; the rules of who may come in are in
``ep_web.domain.auth.proconnect_login``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, session, url_for

ID_TOKEN_KEY = "ep_proconnect_id_token"
# ProConnect's levels of assurance that include a second factor, and the amr
# values of one (RFC 8176): then the portal's own second factor is not asked.
DEFAULT_MFA_ACR = ("eidas2", "eidas3", "https://proconnect.gouv.fr/assurance/self-asserted-2fa",
                   "https://proconnect.gouv.fr/assurance/consistency-checked-2fa")
MFA_AMR = {"mfa", "otp", "totp", "hwk", "swk", "sms", "pop"}

FAILED = ("La connexion avec ProConnect n'a pas abouti. Recommencez, ou connectez-vous avec votre identifiant "
          "et votre mot de passe.")
EXPIRED = ("La connexion avec ProConnect a expiré ou a été ouverte dans un autre onglet. Recommencez depuis la page "
           "de connexion.")


def enabled() -> bool:
    cfg = current_app.config
    return bool(cfg.get("PROCONNECT_DISCOVERY_URL") and cfg.get("PROCONNECT_CLIENT_ID"))


def redirect_uri() -> str:
    return current_app.config.get("PROCONNECT_REDIRECT_URL") or (
        current_app.config["BASE_URL"].rstrip("/") + url_for("auth.proconnect_callback"))


def _client():
    """One Authlib client per app and settings (its discovery document is cached on it)."""
    from authlib.integrations.flask_client import OAuth

    cfg = current_app.config
    key = (cfg["PROCONNECT_DISCOVERY_URL"], cfg["PROCONNECT_CLIENT_ID"], cfg.get("PROCONNECT_CLIENT_SECRET"))
    cache = current_app.extensions.setdefault("ep_proconnect", {})
    if key not in cache:
        oauth = OAuth()
        oauth.app = current_app._get_current_object()  # registry of this app only (no global extension slot)
        cache[key] = oauth.register(
            "proconnect",
            client_id=cfg["PROCONNECT_CLIENT_ID"],
            client_secret=cfg.get("PROCONNECT_CLIENT_SECRET"),
            server_metadata_url=cfg["PROCONNECT_DISCOVERY_URL"],
            client_kwargs={"scope": cfg["PROCONNECT_SCOPES"], "code_challenge_method": "S256",
                           "token_endpoint_auth_method": "client_secret_post",
                           "default_timeout": cfg["PROCONNECT_TIMEOUT"]},
        )
    return cache[key]


def authorize_redirect():
    """The redirection to ProConnect (state, nonce and PKCE verifier kept in the session)."""
    return _client().authorize_redirect(redirect_uri(), acr_values=current_app.config.get("PROCONNECT_ACR_VALUES")
                                        or None)


@dataclass
class Identity:
    """What ProConnect vouched for, or why it did not."""

    sub: str = ""
    email: str = ""
    mfa: bool = False
    id_token: str = ""
    refusal: str | None = None
    claims: dict = field(default_factory=dict)


def _userinfo(client, token) -> dict:
    """ProConnect answers userinfo as a JWT signed with its keys; other providers as JSON."""
    resp = client.get(client.load_server_metadata()["userinfo_endpoint"], token=token)
    resp.raise_for_status()
    if resp.headers.get("Content-Type", "").split(";")[0].strip() == "application/jwt":
        from joserfc import jwt
        from joserfc.jwk import KeySet

        keys = KeySet.import_key_set(client.fetch_jwk_set())
        return dict(jwt.decode(resp.text, keys).claims)
    return resp.json()


def finish() -> Identity:
    """Back from ProConnect: the code exchanged (PKCE), the id_token checked
    (signature, issuer, audience, expiry, nonce), the state checked against this
    browser's session; the subject, e-mail and whether a second factor was used."""
    from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
    from joserfc.errors import JoseError

    client = _client()
    try:
        token = client.authorize_access_token()
    except MismatchingStateError:
        return Identity(refusal=EXPIRED)
    except (OAuthError, JoseError, ValueError) as exc:
        current_app.logger.warning("ProConnect: refused answer (%s)", type(exc).__name__)
        return Identity(refusal=FAILED)
    except Exception as exc:  # the provider unreachable, a malformed answer: a message, never a 500
        current_app.logger.warning("ProConnect: no answer (%s)", type(exc).__name__)
        return Identity(refusal=FAILED)
    claims = dict(token.get("userinfo") or {})
    if not claims.get("sub") or not token.get("id_token"):
        # No id_token checked against our nonce: nothing is trusted.
        return Identity(refusal=FAILED)
    try:
        info = _userinfo(client, token)
    except Exception as exc:
        current_app.logger.warning("ProConnect: userinfo failed (%s)", type(exc).__name__)
        return Identity(refusal=FAILED)
    if info.get("sub") != claims["sub"]:
        return Identity(refusal=FAILED)
    acr = claims.get("acr") or ""
    amr = claims.get("amr") or []
    mfa_acr = current_app.config.get("PROCONNECT_MFA_ACR") or DEFAULT_MFA_ACR
    mfa = acr in mfa_acr or bool(MFA_AMR & set(amr if isinstance(amr, list) else [amr]))
    return Identity(sub=str(claims["sub"]), email=str(info.get("email") or claims.get("email") or ""), mfa=mfa,
                    id_token=token["id_token"], claims=claims)


def end_session_url() -> str | None:
    """SPEC §3: logging out of a ProConnect session ends it at the provider too
    (RP-initiated logout, back to the login page)."""
    id_token = session.get(ID_TOKEN_KEY)
    if not id_token or not enabled():
        return None
    try:
        return _client().create_logout_url(
            post_logout_redirect_uri=current_app.config["BASE_URL"].rstrip("/") + url_for("auth.login"),
            id_token_hint=id_token)["url"]
    except Exception as exc:  # the provider unreachable: the local logout still happens
        current_app.logger.warning("ProConnect: no end_session_endpoint (%s)", type(exc).__name__)
        return None
