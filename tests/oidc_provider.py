"""A small OpenID Connect provider for the tests, built with Authlib's server
side and served over real HTTP on localhost: discovery, JWKS, the authorization
code flow with PKCE (S256 required), an id_token signed RS256 with the nonce,
acr and amr, a userinfo answered as a signed JWT (as ProConnect does), and an
end_session_endpoint that records its calls.

The provider logs in whoever ``provider.user`` says (no login page): the tests
decide who comes back. ``provider.tamper_nonce`` makes it sign a wrong nonce.
"""
from __future__ import annotations

import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "espace-partenaires-test"
CLIENT_SECRET = "client-secret-de-test"


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    scope: str = "openid email given_name usual_name uid"

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope):
        allowed = set(self.scope.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_post", "client_secret_basic")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return self.user.get("acr")

    def get_amr(self):
        return self.user.get("amr")


class Provider:
    def __init__(self):
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, dict] = {}
        self.user: dict = {"sub": "sub-0001", "email": "agent.fictif@exemple.test", "acr": "eidas1"}
        self.tamper_nonce = False
        self.end_session_calls: list[dict] = []
        self.authorize_requests: list[dict] = []
        self.port = _free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client = Client(CLIENT_ID, CLIENT_SECRET, [])
        self.app = self._build()
        self._server = None
        self._thread = None

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def config(self, redirect_uri: str) -> dict:
        """The Espace Partenaires settings that point at this provider."""
        self.client.redirect_uris = [redirect_uri]
        return {"PROCONNECT_DISCOVERY_URL": self.discovery_url, "PROCONNECT_CLIENT_ID": CLIENT_ID,
                "PROCONNECT_CLIENT_SECRET": CLIENT_SECRET, "PROCONNECT_REDIRECT_URL": redirect_uri}

    # ------------------------------------------------------------------ server
    def _build(self) -> Flask:
        provider = self
        app = Flask("test-oidc-provider")
        app.config["SECRET_KEY"] = "provider"

        def query_client(client_id):
            return provider.client if client_id == provider.client.client_id else None

        def save_token(token, req):
            provider.tokens[token["access_token"]] = dict(req.user)

        server = AuthorizationServer(app, query_client=query_client, save_token=save_token)

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_post", "client_secret_basic"]

            def save_authorization_code(self, code, req):
                provider.codes[code] = Code(
                    code=code, client_id=req.client.client_id, redirect_uri=req.payload.redirect_uri,
                    scope=req.payload.scope, user=dict(req.user), nonce=req.payload.data.get("nonce"),
                    code_challenge=req.payload.data.get("code_challenge"),
                    code_challenge_method=req.payload.data.get("code_challenge_method"))

            def query_authorization_code(self, code, client):
                found = provider.codes.get(code)
                return found if found and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code):
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code):
                return authorization_code.user

        class OpenID(OpenIDCode):
            def exists_nonce(self, nonce, req):
                return False

            def resolve_client_private_key(self, client):
                return provider.key

            def get_client_algorithm(self, client):
                return "RS256"

            def get_client_claims(self, client):
                return {"iss": provider.issuer, "aud": [client.client_id]}

            def get_encode_header(self, client):
                return {"alg": "RS256", "kid": "test-key"}

            def get_authorization_code_claims(self, authorization_code):
                claims = super().get_authorization_code_claims(authorization_code)
                if provider.tamper_nonce:
                    claims["nonce"] = "pas-le-bon-nonce"
                return claims

            def generate_user_info(self, user, scope):
                return UserInfo(sub=user["sub"])

        server.register_grant(CodeGrant, [OpenID(require_nonce=True), CodeChallenge(required=True)])

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify({
                "issuer": provider.issuer,
                "authorization_endpoint": provider.issuer + "/authorize",
                "token_endpoint": provider.issuer + "/token",
                "userinfo_endpoint": provider.issuer + "/userinfo",
                "jwks_uri": provider.issuer + "/jwks",
                "end_session_endpoint": provider.issuer + "/session/end",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "userinfo_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "scopes_supported": ["openid", "email", "given_name", "usual_name", "uid"],
            })

        @app.get("/jwks")
        def jwks():
            return jsonify({"keys": [provider.key.as_dict(private=False)]})

        @app.get("/authorize")
        def authorize():
            provider.authorize_requests.append(dict(request.args))
            return server.create_authorization_response(grant_user=dict(provider.user))

        @app.post("/token")
        def token():
            return server.create_token_response()

        @app.get("/userinfo")
        def userinfo():
            auth = request.headers.get("Authorization", "")
            user = provider.tokens.get(auth.removeprefix("Bearer ").strip())
            if user is None:
                return jsonify({"error": "invalid_token"}), 401
            claims = {"sub": user["sub"], "email": user["email"], "given_name": "Camille", "usual_name": "Fictif",
                      "iss": provider.issuer, "aud": CLIENT_ID}
            body = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, provider.key)
            return body, 200, {"Content-Type": "application/jwt"}

        @app.get("/session/end")
        def end_session():
            provider.end_session_calls.append(dict(request.args))
            target = request.args.get("post_logout_redirect_uri")
            if target:
                state = request.args.get("state")
                return redirect(target + ("?" + urlencode({"state": state}) if state else ""))
            return "Déconnecté de ProConnect (test)."

        return app

    def start(self) -> "Provider":
        from werkzeug.serving import make_server

        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="oidc-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._server.server_close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
