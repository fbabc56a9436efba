"""Serving the gateway's MCP server: stdio, streamable HTTP (`/mcp`) and legacy HTTP+SSE (`/sse`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import uvicorn
from mcp.server import Server
from mcp.server.sse import SseServerTransport
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

import kubemcp
from kubemcp.gateway.auth_http import BearerAuth
from kubemcp.gateway.body_check import JsonRpcBodyCheck
from kubemcp.gateway.core import Gateway
from kubemcp.gateway.principal import GatewayUser
from kubemcp.gateway.replicas.router import ReplicaRouter
from kubemcp.gateway.replicas.session_manager import ReplicatedSessionManager
from kubemcp.gateway.replicas.setup import Replicas
from kubemcp.gateway.security import HostOriginGuard
from kubemcp.gateway.settings import GatewaySettings

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
SSE_PATH = "/sse"
MESSAGE_PATH = "/message"


async def serve_stdio(server: Server[Any]) -> None:
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def _health(gateway: Gateway, replicas: Replicas | None) -> Route:
    async def health(request: Request) -> Response:
        # Unauthenticated callers (probes) learn only that the gateway is up; details need a token.
        if gateway.access.authentication is not None and not isinstance(request.scope.get("user"), GatewayUser):
            return JSONResponse({"status": "ok"})
        report: dict[str, Any] = {
            "status": "ok",
            "version": kubemcp.__version__,
            "servers": list(gateway.specs),
            "resident": gateway.pool.resident_names(),
            "warm": gateway.pool.warm_ready(),
        }
        if replicas is not None:
            report["replica"] = replicas.peers.report()
        return JSONResponse(report)

    return Route("/health", health, methods=["GET"])


def _ready(stopping: anyio.Event | None) -> Route:
    """Readiness: 503 once the gateway is stopping, so a Service sends it no new connections."""

    async def ready(request: Request) -> Response:
        if stopping is not None and stopping.is_set():
            return JSONResponse({"status": "stopping"}, status_code=503)
        return JSONResponse({"status": "ready"})

    return Route("/ready", ready, methods=["GET"])


def build_http_app(
    gateway: Gateway,
    server: Server[Any],
    settings: GatewaySettings,
    replicas: Replicas | None = None,
    stopping: anyio.Event | None = None,
) -> HostOriginGuard:
    """The HTTP application for `--transport streaming` or `--transport sse`."""
    routes: list[Route | Mount] = [_health(gateway, replicas), _ready(stopping)]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manager is None:
            yield
            return
        async with manager.run():
            yield

    manager: StreamableHTTPSessionManager | None = None
    if settings.transport == "streaming":
        if replicas is not None:
            manager = ReplicatedSessionManager(
                app=server, max_request_body_size=settings.max_body_bytes, ids=replicas.ids, on_adopt=replicas.adopted
            )
        else:
            manager = StreamableHTTPSessionManager(app=server, max_request_body_size=settings.max_body_bytes)
        routes.append(Route(MCP_PATH, JsonRpcBodyCheck(StreamableHTTPASGIApp(manager), settings.max_body_bytes)))
    else:
        # The Mount below serves "/message/"; advertise that path, not "/message", which would redirect.
        # Behind replicas the path names this replica, so a post reaching another one is forwarded here.
        endpoint = f"{MESSAGE_PATH}/" if replicas is None else f"{MESSAGE_PATH}/{replicas.sse_token}/"
        sse = SseServerTransport(endpoint, max_request_body_size=settings.max_body_bytes)

        async def handle_sse(request: Request) -> Response:
            async with sse.connect_sse(request.scope, request.receive, request._send) as (read, write):
                await server.run(read, write, server.create_initialization_options())
            return Response()

        routes.append(Route(SSE_PATH, handle_sse, methods=["GET"]))
        routes.append(Mount(MESSAGE_PATH, app=JsonRpcBodyCheck(sse.handle_post_message, settings.max_body_bytes)))
    app: Any = Starlette(routes=routes, lifespan=lifespan)
    if replicas is not None:
        # Inside authentication: a request is authenticated before it is forwarded (and again by the owner).
        holds = manager.holds if isinstance(manager, ReplicatedSessionManager) else (lambda _: False)
        app = ReplicaRouter(app, ids=replicas.ids, peers=replicas.peers, holds=holds, sse_prefix=f"{MESSAGE_PATH}/")
    authentication = gateway.access.authentication
    return HostOriginGuard(
        app if authentication is None else BearerAuth(app, authentication),
        bind_host=settings.host,
        allowed_hosts=settings.allowed_hosts,
        allowed_origins=settings.allowed_origins,
    )


class _UvicornServer(uvicorn.Server):
    """uvicorn without its own signal handling: the gateway stops on SIGTERM/SIGINT itself, so its
    backends are stopped before the process exits (uvicorn would re-raise the signal and skip that)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_http(
    gateway: Gateway,
    server: Server[Any],
    settings: GatewaySettings,
    stop: anyio.Event | None = None,
    replicas: Replicas | None = None,
) -> None:
    app = build_http_app(gateway, server, settings, replicas, stop)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        http=settings.http_parser,
    )
    http = _UvicornServer(config)
    path = MCP_PATH if settings.transport == "streaming" else SSE_PATH

    async def announce() -> None:
        while not http.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
            await anyio.sleep(0.01)
        for listener in http.servers:
            for sock in listener.sockets:
                host, port = sock.getsockname()[:2]
                logger.info("serving MCP on http://%s:%d%s", _url_host(host), port, path)

    async def stop_when_asked() -> None:
        if stop is not None:
            await stop.wait()
            http.should_exit = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(announce)
        tg.start_soon(stop_when_asked)
        if replicas is not None and replicas.follower is not None:
            tg.start_soon(replicas.follower.follow)
        await http.serve()
        tg.cancel_scope.cancel()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
