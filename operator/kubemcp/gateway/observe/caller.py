"""Who made a request: the principal the audit trail, the status page and interceptors see.

Authentication (an ASGI middleware) puts the caller in the request's scope, as Starlette's
`AuthenticationMiddleware` does (`scope["user"]`); requests without one are `anonymous`, and the
stdio transport's single local client is `stdio`.
"""

from __future__ import annotations

from typing import Any

PRINCIPAL_SCOPE_KEY = "kubemcp.principal"  # an authentication middleware may set a plain name here
MAX_PRINCIPAL = 256


def principal_of(request: Any) -> str:
    """The principal of an HTTP request (Starlette), or `stdio` when the request came over stdio."""
    if request is None:
        return "stdio"
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        return "anonymous"
    named = scope.get(PRINCIPAL_SCOPE_KEY)
    if isinstance(named, str) and named:
        return named[:MAX_PRINCIPAL]
    user = scope.get("user")
    if user is not None and getattr(user, "is_authenticated", False):
        name = getattr(user, "display_name", "") or getattr(user, "identity", "")
        if isinstance(name, str) and name:
            return name[:MAX_PRINCIPAL]
    return "anonymous"
