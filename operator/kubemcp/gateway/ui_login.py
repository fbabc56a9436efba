"""Signing in to the status page from a browser, which cannot send `Authorization: Bearer` itself.

- `GET /ui` with no credential answers a sign-in page (401 with the bearer challenge, so a client
  that is not a browser sees what it saw before), a form with one password field for the token.
- `POST /ui/login` (form-encoded `token=...`) checks the token with the gateway's `Authentication`,
  the one `/mcp` uses (named tokens and OAuth access tokens). A good token is kept in a cookie and the
  browser is sent to `/ui` (303); a wrong one gets the page again with why (401, or 403 for an access
  token without the required scopes), logged without the token.
- `POST /ui/logout` clears the cookie (303 to `/ui`).

The cookie holds the token itself: `HttpOnly; SameSite=Strict; Path=/ui`, `Secure` when the request
came over TLS (or `X-Forwarded-Proto: https`), for 8 hours at most and never past an access token's
`exp`. A `/ui` request with the cookie and no `Authorization` header is handled as if it carried the
cookie's token as its bearer token, so `BearerAuth` checks it on every request: a token removed from
the tokens file, or an access token past its `exp`, stops working at once, the authorization policy
limits the view as for any bearer request, and every replica accepts the cookie with nothing shared.

The cookie is read on `/ui` paths only: `/mcp`, `/sse`, `/message` and `/metrics` never accept it, so
a page of another site cannot make a browser call tools with it. Signing in and out must come from
this gateway's own page: an `Origin` naming the request's `Host`, or no `Origin` and
`Sec-Fetch-Site: same-origin`; anything else is refused (403). The Host/Origin guard runs first.
"""

from __future__ import annotations

import html
import logging
import secrets
import time
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from kubemcp.files.tokens import TOKEN
from kubemcp.gateway.auth_http import BearerAuth, client_address
from kubemcp.gateway.auth_jwt import InsufficientScope, InvalidToken
from kubemcp.gateway.http_errors import send_error
from kubemcp.gateway.observe.routes import NONCE, page_headers, page_text
from kubemcp.gateway.principal import GatewayUser
from kubemcp.masking import mask

logger = logging.getLogger(__name__)

COOKIE = "kubemcp_ui"
UI_PATH = "/ui"
LOGIN_PATH = "/ui/login"
LOGOUT_PATH = "/ui/logout"
MAX_AGE = 8 * 3600
MAX_FORM_BYTES = 16 * 1024
MAX_COOKIE_VALUE = 4000  # browsers keep a cookie of up to 4096 bytes, its name and attributes included
FORM_TYPE = "application/x-www-form-urlencoded"
DEFAULT_PORTS = {"http": "80", "https": "443"}


def is_ui_path(path: str) -> bool:
    return path == UI_PATH or path.startswith(UI_PATH + "/")


class UiLogin:
    """ASGI middleware outside `BearerAuth` (and outside the JSON error bodies: its pages are HTML)."""

    def __init__(self, app: ASGIApp, bearer: BearerAuth) -> None:
        self.app = app
        self.bearer = bearer
        self.authentication = bearer.authentication

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_ui_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        headers = Headers(scope=scope)
        if path in (LOGIN_PATH, LOGOUT_PATH) and method == "POST":
            if not same_origin(headers):
                logger.warning("refused %s from %s: not from this gateway's page", path, client_address(scope))
                await send_error(send, 403, "signing in and out is only possible from this gateway's own page")
            elif path == LOGIN_PATH:
                await self._login(scope, receive, send, headers)
            else:
                await self._answer(send, 303, "", cookie=_cookie("", 0, secure=is_tls(scope, headers)))
            return
        if "authorization" in headers:
            await self.app(scope, receive, send)  # a bearer token: as before, the cookie plays no part
            return
        token = cookie_parser(headers.get("cookie", "")).get(COOKIE) or None
        page = path == UI_PATH and method == "GET"
        if token is None:
            if page:
                await self._page(send, 401, "")
            else:
                await self.app(scope, receive, send)  # e.g. /ui/state: BearerAuth answers 401 JSON
            return
        if page:
            try:  # checked here first, so an expired or revoked sign-in shows the sign-in page again
                await self._authenticate(token)
            except (InvalidToken, InsufficientScope) as exc:
                reason = mask(str(exc), [token])
                logger.info("status page sign-in from %s no longer valid: %s", client_address(scope), reason)
                message = f"Your sign-in is no longer valid ({reason}): sign in again."
                await self._page(send, 401, message, cookie=_cookie("", 0, secure=is_tls(scope, headers)))
                return
        if not TOKEN.fullmatch(token):
            await self.app(scope, receive, send)  # not a token at all: BearerAuth answers 401 JSON
            return
        bearer = (b"authorization", b"Bearer " + token.encode("ascii"))
        await self.app({**scope, "headers": [*scope["headers"], bearer]}, receive, send)

    async def _authenticate(self, token: str) -> GatewayUser:
        """The user `token` stands for, by the same checks as a bearer token's."""
        if not TOKEN.fullmatch(token):
            raise InvalidToken("the token is not valid")
        return await self.authentication.authenticate(token)

    async def _login(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        if headers.get("content-type", "").partition(";")[0].strip().lower() != FORM_TYPE:
            await send_error(send, 415, f"signing in takes a form ({FORM_TYPE})")
            return
        body = await _read_body(receive, MAX_FORM_BYTES)
        if body is None:
            await send_error(send, 413, f"the sign-in form is larger than {MAX_FORM_BYTES} bytes")
            return
        token = _typed_token(parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0])
        if not token:
            await self._page(send, 401, "Enter a token.")
            return
        if len(token) > MAX_COOKIE_VALUE:
            await self._refuse(
                scope, send, 400, f"the token is too long to keep in a browser cookie (over {MAX_COOKIE_VALUE})"
            )
            return
        try:
            user = await self._authenticate(token)
            max_age = _lifetime(user)
            if max_age <= 0:  # accepted within the clock-skew leeway, but no time left
                raise InvalidToken("the token has expired")
        except InvalidToken as exc:
            await self._refuse(scope, send, 401, mask(str(exc), [token]))
            return
        except InsufficientScope as exc:
            await self._refuse(scope, send, 403, mask(str(exc), [token]))
            return
        logger.info("%s signed in to the status page from %s", user.principal, client_address(scope))
        await self._answer(send, 303, "", cookie=_cookie(token, max_age, secure=is_tls(scope, headers)))

    async def _refuse(self, scope: Scope, send: Send, status: int, problem: str) -> None:
        logger.warning("refused sign-in to the status page from %s: %s", client_address(scope), problem)
        await self._page(send, status, f"Sign-in failed: {problem}.")

    async def _page(self, send: Send, status: int, message: str, *, cookie: str | None = None) -> None:
        nonce = secrets.token_urlsafe(16)
        text = page_text("login_page.html").replace(NONCE, nonce).replace("__ERROR__", html.escape(message))
        extra = {"content-type": "text/html; charset=utf-8", **page_headers(nonce)}
        if status == 401:
            extra["www-authenticate"] = self.bearer.challenge()
        await self._answer(send, status, text, cookie=cookie, headers=extra)

    async def _answer(
        self, send: Send, status: int, text: str, *, cookie: str | None, headers: dict[str, str] | None = None
    ) -> None:
        body = text.encode()
        fields = {"cache-control": "no-store"}
        fields.update((name.lower(), value) for name, value in (headers or {}).items())
        fields["content-length"] = str(len(body))
        if status == 303:
            fields["location"] = UI_PATH
        raw = [(name.encode(), value.encode()) for name, value in fields.items()]
        if cookie is not None:
            raw.append((b"set-cookie", cookie.encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})


def _typed_token(value: str) -> str:
    """The token as typed or pasted: surrounding blanks and a leading `Bearer ` are dropped."""
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest.strip() else value


def _lifetime(user: GatewayUser) -> int:
    """How long the cookie may last: `MAX_AGE`, and never past the access token's expiry."""
    expires_at = user.access_token.expires_at
    return MAX_AGE if expires_at is None else min(MAX_AGE, expires_at - int(time.time()))


def _cookie(token: str, max_age: int, *, secure: bool) -> str:
    """A token is an RFC 6750 b64token, whose characters a cookie value may hold as they are."""
    attributes = f"Max-Age={max_age}; Path={UI_PATH}; HttpOnly; SameSite=Strict"
    return f"{COOKIE}={token}; {attributes}{'; Secure' if secure else ''}"


def is_tls(scope: Scope, headers: Headers) -> bool:
    """Whether the browser reached the gateway over HTTPS (directly, or through a proxy that says so)."""
    forwarded = headers.get("x-forwarded-proto", "").partition(",")[0].strip().lower()
    return scope.get("scheme") == "https" or forwarded == "https"


def _authority(host: str, scheme: str) -> str:
    host = host.strip().lower()
    port = DEFAULT_PORTS.get(scheme)
    return host.removesuffix(f":{port}") if port else host


def same_origin(headers: Headers) -> bool:
    """Whether a form was posted by a page of this gateway: its `Origin` names the `Host` the browser
    sent, or (a browser that sends no `Origin`) `Sec-Fetch-Site` says same-origin."""
    origin, host = headers.get("origin"), headers.get("host")
    if origin is None:
        return headers.get("sec-fetch-site") == "same-origin"
    parts = urlsplit(origin)
    if parts.scheme not in DEFAULT_PORTS or not parts.netloc or host is None:
        return False  # also "null": an opaque origin
    return _authority(parts.netloc, parts.scheme) == _authority(host, parts.scheme)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request's body, or None when it is larger than `limit` bytes (or the client went away)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
