"""Authentication on the HTTP transports: every request but `/health` and the OAuth protected-resource
metadata carries `Authorization: Bearer <token>`, a named token or (with OAuth) an access token.

- No credentials: 401 with `WWW-Authenticate: Bearer realm="kubemcp"` (plus `resource_metadata=` when
  OAuth is configured, RFC 9728), so an OAuth client can find the authorization server.
- A token that is not valid: 401 with `error="invalid_token"` and why (never the token).
- A valid access token without the required scopes: 403 with `error="insufficient_scope"`.
- Otherwise the ASGI scope gets `user` (a `GatewayUser`: the SDK binds sessions to it) and `auth`.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Hashable
from dataclasses import dataclass

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from pydantic import AnyHttpUrl
from starlette.authentication import AuthCredentials
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from kubemcp.gateway.auth_jwt import InsufficientScope, InvalidToken, JwtVerifier
from kubemcp.gateway.auth_tokens import StaticTokens
from kubemcp.gateway.principal import GatewayUser, Principal

logger = logging.getLogger(__name__)

REALM = "kubemcp"
OPEN_PATHS = frozenset({"/health", "/ready"})
METADATA_PREFIX = "/.well-known/oauth-protected-resource"


@dataclass
class Authentication:
    """What the HTTP transports accept: named tokens, OAuth access tokens, or both."""

    tokens: StaticTokens | None
    jwt: JwtVerifier | None

    def describe(self) -> list[str]:
        lines = []
        if self.tokens is not None:
            lines.append(f"bearer tokens from {self.tokens.describe()}")
        if self.jwt is not None:
            scopes = f", scopes {' '.join(self.jwt.required_scopes)}" if self.jwt.required_scopes else ""
            lines.append(f"OAuth access tokens from {self.jwt.issuer} for {self.jwt.audience}{scopes}")
        return lines

    def stamp(self) -> Hashable:
        return self.tokens.stamp() if self.tokens is not None else None

    def reload(self) -> bool:
        return self.tokens.reload() if self.tokens is not None else False

    async def authenticate(self, token: str) -> GatewayUser:
        """The user a bearer token stands for; raises `InvalidToken` or `InsufficientScope`."""
        if self.tokens is not None:
            name = self.tokens.principal_name(token)
            if name is not None:
                access = AccessToken(token="", client_id=f"token:{name}", scopes=[])
                return GatewayUser(access, Principal("token", name))
        if self.jwt is not None and self.jwt.looks_like_jwt(token):
            verified = await self.jwt.verify(token)
            access = AccessToken(
                token="",
                client_id=verified.client_id,
                scopes=sorted(verified.scopes),
                expires_at=verified.expires_at,
                resource=self.jwt.audience,
                subject=verified.subject,
                claims={"iss": verified.claims.get("iss")},
            )
            return GatewayUser(access, Principal("jwt", verified.subject, verified.groups, verified.scopes))
        raise InvalidToken("the token is not valid")


class BearerAuth:
    """ASGI middleware requiring a bearer token (see the module's description)."""

    def __init__(self, app: ASGIApp, authentication: Authentication) -> None:
        self.app = app
        self.authentication = authentication
        self.metadata_url: str | None = None
        self.metadata: Router | None = None
        verifier = authentication.jwt
        if verifier is not None:
            resource = AnyHttpUrl(verifier.audience)
            self.metadata_url = str(build_resource_metadata_url(resource))
            [route] = create_protected_resource_routes(
                resource, [AnyHttpUrl(verifier.issuer)], verifier.required_scopes or None, "kubemcp gateway"
            )
            paths = {route.path, METADATA_PREFIX}  # the path-suffixed form (RFC 9728 3.1) and the root one
            self.metadata = Router(routes=[Route(path, route.endpoint, methods=["GET", "OPTIONS"]) for path in paths])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in OPEN_PATHS:
            await self._open(scope, receive, send)
            return
        if self.metadata is not None and scope["path"].startswith(METADATA_PREFIX):
            await self.metadata(scope, receive, send)
            return
        token = _bearer_token(scope)
        if token is None:
            logger.debug("refused %s %s: no bearer token", scope["method"], scope["path"])
            await self._refuse(send, 401, None, "a bearer token is required")
            return
        try:
            user = await self.authentication.authenticate(token)
        except InvalidToken as exc:
            logger.warning("refused %s %s from %s: %s", scope["method"], scope["path"], client_address(scope), exc)
            await self._refuse(send, 401, "invalid_token", str(exc))
            return
        except InsufficientScope as exc:
            logger.warning("refused %s %s from %s: %s", scope["method"], scope["path"], client_address(scope), exc)
            await self._refuse(send, 403, "insufficient_scope", str(exc), scope=" ".join(exc.required))
            return
        scope["user"] = user
        scope["auth"] = AuthCredentials(user.scopes)
        await self.app(scope, receive, send)

    async def _open(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A path anyone may request; a valid token (if one is sent) still identifies the caller."""
        token = _bearer_token(scope)
        if token is not None:
            with contextlib.suppress(InvalidToken, InsufficientScope):
                scope["user"] = await self.authentication.authenticate(token)
        await self.app(scope, receive, send)

    def challenge(self, error: str | None = None, description: str = "", *, scope: str = "") -> str:
        """The `WWW-Authenticate` value of a refusal (RFC 6750 3, plus RFC 9728's `resource_metadata`)."""
        params = [f'realm="{REALM}"']
        if error is not None:
            params += [f'error="{error}"', f'error_description="{description}"']
        if scope:
            params.append(f'scope="{scope}"')
        if self.metadata_url is not None:
            params.append(f'resource_metadata="{self.metadata_url}"')
        return "Bearer " + ", ".join(params)

    async def _refuse(self, send: Send, status: int, error: str | None, description: str, *, scope: str = "") -> None:
        body = json.dumps({"error": error or "unauthorized", "error_description": description}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", self.challenge(error, description, scope=scope).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _bearer_token(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "unknown"
