"""Who makes a request: the principal the gateway authorizes, and how a request's principal is found.

- `local`: the stdio transport (the desktop's own process), trusted with everything;
- `anonymous`: an HTTP caller of a gateway run with `--allow-unauthenticated`;
- `token:NAME`: a caller with a bearer token, by the token's name;
- `sub:SUBJECT`: a caller with an OAuth access token (a JWT), with its groups and scopes.

HTTP authentication (`auth_http`) puts a `GatewayUser` in the ASGI scope; `PrincipalBinding`, a server
middleware, reads it off each MCP request and makes it `current_principal()` while the request is handled.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

Kind = Literal["local", "anonymous", "token", "jwt"]


@dataclass(frozen=True)
class Principal:
    kind: Kind
    name: str = ""
    groups: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def trusted(self) -> bool:
        """The stdio transport's caller: no policy applies to it."""
        return self.kind == "local"

    def __str__(self) -> str:
        if self.kind == "token":
            return f"token:{self.name}"
        if self.kind == "jwt":
            return f"sub:{self.name}"
        return self.kind

    def selectors(self) -> frozenset[str]:
        """Every policy selector naming this principal (`*` names everyone)."""
        found = {"*", str(self)}
        found.update(f"group:{group}" for group in self.groups)
        found.update(f"scope:{scope}" for scope in self.scopes)
        return frozenset(found)


LOCAL = Principal("local")
ANONYMOUS = Principal("anonymous")


class GatewayUser(AuthenticatedUser):
    """The SDK's authenticated user (sessions stay bound to it) carrying the gateway's principal."""

    def __init__(self, access: AccessToken, principal: Principal) -> None:
        super().__init__(access)
        self.principal = principal


_current: ContextVar[Principal] = ContextVar("kubemcp_principal", default=LOCAL)


@contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    """Make `principal` the current one within the block (its task and the tasks it starts)."""
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)


def current_principal() -> Principal:
    """The principal of the request being handled; `local` outside any request (dry runs, tests in-process)."""
    return _current.get()


def principal_of(request: Any, *, http: bool) -> Principal:
    """The principal of an MCP request's HTTP request (None over stdio)."""
    if request is None:
        # Over HTTP every message carries its HTTP request; one that does not is not trusted.
        return ANONYMOUS if http else LOCAL
    user = getattr(request, "scope", {}).get("user")
    return user.principal if isinstance(user, GatewayUser) else ANONYMOUS


class PrincipalBinding:
    """Server middleware: the request's principal is `current_principal()` while its handler runs."""

    def __init__(self, *, http: bool) -> None:
        self.http = http

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        with acting_as(principal_of(ctx.request, http=self.http)):
            return await call_next(ctx)
