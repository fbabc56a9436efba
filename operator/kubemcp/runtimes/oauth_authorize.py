"""`kubemcp oauth authorize SERVER`: the interactive part of OAuth for a remote server.

A loopback listener (127.0.0.1, RFC 8252) receives the authorization redirect; the user opens the
authorization URL in a browser. The mcp SDK's OAuth client does the rest: it discovers the server's
authorization server, registers kubemcp as a client when the server offers dynamic registration
(else `client_id` names a registered one), runs authorization code with PKCE and stores the tokens
through `OAuthTokens`. The flow is started by connecting to the server, and ends with a handshake
that uses the new token, so a stored token is known to work.
"""

from __future__ import annotations

import logging
import socket
import webbrowser
from collections.abc import Callable

import anyio
import uvicorn
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

import kubemcp
from kubemcp.runtimes.remote_oauth import OAuthTokens

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/callback"
DONE_PAGE = "<html><body><p>kubemcp is authorized. You can close this window.</p></body></html>"


class AuthorizationFailed(Exception):
    pass


async def authorize(
    tokens: OAuthTokens,
    *,
    sse: bool = False,
    scope: str | None = None,
    port: int = 0,
    client_id: str | None = None,
    open_browser: bool = True,
    show: Callable[[str], None] = print,
    wait_seconds: float = 300.0,
) -> None:
    """Authorize kubemcp at `tokens.url` and store the tokens; raises `AuthorizationFailed`."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", port))
    redirect_uri = f"http://127.0.0.1:{listener.getsockname()[1]}{CALLBACK_PATH}"
    received: list[AuthorizationCodeResult] = []
    arrived = anyio.Event()

    async def callback(request: Request) -> Response:
        params = request.query_params
        if "error" in params:
            received.append(AuthorizationCodeResult(code="", state=params.get("state")))
            show(f"authorization refused: {params.get('error')} {params.get('error_description') or ''}".strip())
        else:
            received.append(
                AuthorizationCodeResult(code=params.get("code", ""), state=params.get("state"), iss=params.get("iss"))
            )
        arrived.set()
        return HTMLResponse(DONE_PAGE)

    async def redirect(url: str) -> None:
        show(f"open this URL to authorize kubemcp for {tokens.server}:\n{url}")
        if open_browser:
            webbrowser.open(url)

    async def wait_for_callback() -> AuthorizationCodeResult:
        with anyio.fail_after(wait_seconds):
            await arrived.wait()
        return received[0]

    registered = (await tokens.record()).client
    # A registration for another loopback port cannot receive this redirect: register again.
    await tokens.reset(keep_client=registered is not None and redirect_uri in map(str, registered.redirect_uris or []))
    if client_id is not None:
        client = {"client_id": client_id, "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none"}
        await tokens.set_client_info(OAuthClientInformationFull.model_validate(client))
    metadata = OAuthClientMetadata.model_validate(
        {
            "client_name": "kubemcp",
            "software_id": "kubemcp",
            "software_version": kubemcp.__version__,
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": scope,
        }
    )
    provider = OAuthClientProvider(tokens.url, metadata, tokens, redirect, wait_for_callback)
    app = Starlette(routes=[Route(CALLBACK_PATH, callback, methods=["GET"])])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [listener])
        try:
            with anyio.fail_after(wait_seconds + 30):
                await _connect(tokens.url, sse, provider)
        except Exception as exc:
            raise AuthorizationFailed(f"authorizing {tokens.server} at {tokens.url} failed: {exc}") from exc
        finally:
            server.should_exit = True
    if (await tokens.get_tokens()) is None:
        raise AuthorizationFailed(f"{tokens.url} did not ask for authorization: no token is needed")


async def _connect(url: str, sse: bool, auth: OAuthClientProvider) -> None:
    """A handshake with the server through `auth`: the first 401 starts the authorization."""
    if sse:
        async with Client(sse_client(url, auth=auth), mode="legacy", cache=None):
            return
    async with (
        create_mcp_http_client(auth=auth) as http,
        Client(streamable_http_client(url, http_client=http), mode="legacy", cache=None),
    ):
        return
