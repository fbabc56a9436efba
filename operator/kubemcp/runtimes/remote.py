"""Remote servers (Docker's `type: remote`): nothing is started, the gateway connects out.

`remote.url` is reached over streamable HTTP, or over the legacy HTTP+SSE transport when
`remote.transport_type` is `sse`. `remote.headers` are sent with every request; as in Docker's
catalogs, `$NAME` or `${NAME}` in a header value is the secret the entry maps to the variable
`NAME` (`secrets: [{name: github.token, env: NAME}]`), and `{{server.key}}` a config value:

    remote:
      url: https://api.example.com/mcp
      headers: {Authorization: "Bearer ${GITHUB_TOKEN}"}
    secrets: [{name: github.token, env: GITHUB_TOKEN}]

A server that wants OAuth uses the token `kubemcp oauth authorize SERVER` stored (see
`remote_oauth`), refreshed before it expires. Without one, its calls fail with a message naming
that command; every other server keeps working.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import httpx2
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import MCP_DEFAULT_SSE_READ_TIMEOUT, MCP_DEFAULT_TIMEOUT

from kubemcp.errors import ServerUnavailableError
from kubemcp.masking import mask
from kubemcp.model.link import BackendLink
from kubemcp.model.spec import ServerSpec
from kubemcp.runtimes.remote_oauth import OAuthTokens

logger = logging.getLogger(__name__)

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")

SecretValues = Callable[[ServerSpec], Awaitable[dict[str, str]]]
"""The values of an entry's secrets, by the variable each is mapped to."""


async def local_secret_values(spec: ServerSpec) -> dict[str, str]:
    """Values from the local secret store (already resolved into the spec)."""
    if spec.missing_secrets:
        names = ", ".join(spec.missing_secrets)
        raise ServerUnavailableError(spec.name, f"secret(s) not set: {names} (set with 'kubemcp secret set NAME=…')")
    return dict(spec.secret_env)


def remote_headers(spec: ServerSpec, values: dict[str, str]) -> dict[str, str]:
    """The entry's headers with `$NAME`/`${NAME}` and `{{server.key}}` expanded."""
    assert spec.entry.remote is not None

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise ServerUnavailableError(
                spec.name, f"header variable ${name} is none of the entry's secrets (map one with 'env: {name}')"
            )
        return values[name]

    return {key: _VARIABLE.sub(variable, spec.expand(value)) for key, value in spec.entry.remote.headers.items()}


def uses_sse(spec: ServerSpec) -> bool:
    return spec.entry.remote is not None and spec.entry.remote.transport_type.lower() == "sse"


_TLS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}


def tls_context() -> ssl.SSLContext:
    """One TLS context for every connection to a remote server (building one loads the whole CA bundle: a
    fresh one per connection cost the operator a sixth of its CPU at 250 discoveries). A new one is made
    when `SSL_CERT_FILE` or `SSL_CERT_DIR` changes, as httpx2 reads them."""
    where = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    if where not in _TLS:
        _TLS.clear()
        _TLS[where] = httpx2.create_ssl_context()
    return _TLS[where]


def remote_http_client(
    headers: dict[str, str] | None = None,
    timeout: httpx2.Timeout | None = None,
    auth: httpx2.Auth | None = None,
) -> httpx2.AsyncClient:
    """`mcp`'s `create_mcp_http_client` (its timeouts, no redirects followed by httpx2), on the shared TLS context."""
    return httpx2.AsyncClient(
        headers=headers,
        timeout=timeout or httpx2.Timeout(MCP_DEFAULT_TIMEOUT, read=MCP_DEFAULT_SSE_READ_TIMEOUT),
        auth=auth,
        verify=tls_context(),
    )


class _Outcome:
    """What the HTTP exchanges said, to explain a failed connection better than the MCP error can."""

    def __init__(self, spec: ServerSpec, tokens: OAuthTokens | None) -> None:
        self.spec = spec
        self.tokens = tokens
        self.status: int | None = None

    async def on_response(self, response: httpx2.Response) -> None:
        if response.status_code >= 400:
            self.status = response.status_code

    def explain(self) -> str | None:
        if self.tokens is not None and self.tokens.explain() is not None:
            return self.tokens.explain()
        if self.status in (401, 403):
            return (
                f"the remote server refused the request (HTTP {self.status}): it needs authorization; "
                f"run 'kubemcp oauth authorize {self.spec.name}'"
            )
        if self.status is not None:
            return f"the remote server answered HTTP {self.status}"
        return None


class RemoteConnector:
    """Connects to remote servers; `tokens` gives a server's stored OAuth tokens (None: no OAuth)."""

    name = "remote"

    def __init__(
        self,
        *,
        secret_values: SecretValues = local_secret_values,
        tokens: Callable[[ServerSpec], OAuthTokens | None] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.secret_values = secret_values
        self.tokens = tokens
        self.timeout = timeout

    @asynccontextmanager
    async def connect(self, spec: ServerSpec) -> AsyncIterator[BackendLink]:
        remote = spec.entry.remote
        if remote is None:
            raise ServerUnavailableError(spec.name, "its catalog entry has no 'remote.url'")
        spec.check_config()
        values = await self.secret_values(spec)
        headers = remote_headers(spec, values)
        tokens = self.tokens(spec) if self.tokens is not None else None
        auth = await tokens.auth() if tokens is not None else None
        outcome = _Outcome(spec, tokens)
        redact = list(values.values())

        async def describe_exit() -> str:
            return outcome.explain() or f"the connection to {mask(remote.url, redact)} ended"

        def http_client(
            headers: dict[str, str] | None = None,
            timeout: httpx2.Timeout | None = None,
            auth: httpx2.Auth | None = None,
        ) -> httpx2.AsyncClient:
            client = remote_http_client(headers=headers, timeout=timeout, auth=auth)
            client.event_hooks["response"].append(outcome.on_response)
            return client

        logger.debug("connecting to remote server %s (%s)", spec.name, "sse" if uses_sse(spec) else "streamable HTTP")
        try:
            async with AsyncExitStack() as stack:
                if uses_sse(spec):
                    streams = await stack.enter_async_context(
                        sse_client(remote.url, headers=headers, auth=auth, httpx_client_factory=http_client)
                    )
                else:
                    client = await stack.enter_async_context(
                        http_client(headers=headers, timeout=httpx2.Timeout(self.timeout, read=300.0), auth=auth)
                    )
                    streams = await stack.enter_async_context(streamable_http_client(remote.url, http_client=client))
                yield BackendLink(streams=streams, describe_exit=describe_exit, explain=outcome.explain)
        except Exception as exc:
            http_error = _http_error(exc)
            if http_error is None:
                raise
            detail = outcome.explain() or mask(f"{type(http_error).__name__}: {http_error}", redact)
            raise ServerUnavailableError(spec.name, f"cannot reach {mask(remote.url, redact)}: {detail}") from exc


def _http_error(exc: BaseException) -> httpx2.HTTPError | None:
    """The HTTP failure behind `exc`, also when a transport's task group wrapped it."""
    if isinstance(exc, httpx2.HTTPError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _http_error(inner)
            if found is not None:
                return found
    return None
