"""Serving the gateway's MCP server: stdio, streamable HTTP (`/mcp`) and legacy HTTP+SSE (`/sse`)."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any

import anyio
import uvicorn
from mcp.server import Server
from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

import kubemcp
from kubemcp.gateway.auth_http import BearerAuth
from kubemcp.gateway.body_check import JsonRpcBodyCheck
from kubemcp.gateway.client_gone import ClientWatch
from kubemcp.gateway.core import Gateway
from kubemcp.gateway.draining import SSE_FLUSH_SECONDS, Drain, DrainingApp, InFlight
from kubemcp.gateway.fast_calls import FastCalls
from kubemcp.gateway.http_errors import JsonRpcErrorBodies
from kubemcp.gateway.http_limits import BodyReadTimeout, Limits, connection_budget
from kubemcp.gateway.kept_answers import KeptAnswers
from kubemcp.gateway.mcp_handlers import GatewayServer
from kubemcp.gateway.observe.routes import observe_routes
from kubemcp.gateway.principal import GatewayUser
from kubemcp.gateway.replicas.router import ReplicaRouter
from kubemcp.gateway.replicas.session_manager import ReplicatedSessionManager
from kubemcp.gateway.replicas.setup import Replicas
from kubemcp.gateway.security import HostOriginGuard
from kubemcp.gateway.session_limits import SessionLimits
from kubemcp.gateway.settings import GatewaySettings
from kubemcp.gateway.ui_login import UiLogin
from kubemcp.logs import RepeatLimit

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
SSE_PATH = "/sse"
MESSAGE_PATH = "/message"


def _health(
    gateway: Gateway,
    sessions: SessionLimits | None,
    replicas: Replicas | None,
    kept: KeptAnswers | None,
    fast: FastCalls | None,
) -> Route:
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
            "admission": gateway.pool.admission.snapshot(),
            "reloads": gateway.reloads,
        }
        if sessions is not None:
            report["sessions"] = sessions.snapshot()
        if kept is not None:
            report["kept_answers"] = kept.served  # tools/list requests answered with their kept bytes
        if fast is not None:
            # tools/call, prompts/get and resources/read requests answered in front of the SDK's transport
            report["fast_calls"] = fast.served
            report["fast_calls_by_method"] = dict(fast.by_method)
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
) -> tuple[ASGIApp, DrainingApp]:
    """The HTTP application for `--transport streaming` or `--transport sse`, and its drain control."""
    routes: list[Route | Mount] = list(observe_routes(gateway, replicas.peers if replicas is not None else None))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manager is None:
            yield
            return
        async with manager.run():
            yield

    manager: StreamableHTTPSessionManager | None = None
    sessions: SessionLimits | None = None
    kept: KeptAnswers | None = None
    fast: FastCalls | None = None
    if settings.transport == "streaming":
        options: dict[str, Any] = {
            "max_request_body_size": settings.max_body_bytes,
            "session_idle_timeout": settings.session_idle_timeout,
            "max_sessions": settings.max_sessions,
        }
        if replicas is not None:
            manager = ReplicatedSessionManager(app=server, ids=replicas.ids, on_adopt=replicas.adopted, **options)
        else:
            manager = StreamableHTTPSessionManager(app=server, **options)
        transport: ASGIApp = StreamableHTTPASGIApp(manager)
        if settings.fast_path and isinstance(server, GatewayServer):
            connections = server.listing_cache.connections
            transport = kept = KeptAnswers(
                transport, view=gateway.kept_tools_view, manager=manager, connections=connections
            )
            inflight = next((each for each in server.middleware if isinstance(each, InFlight)), None)
            transport = fast = FastCalls(transport, gateway=gateway, server=server, manager=manager, inflight=inflight)
        mcp = JsonRpcBodyCheck(transport, settings.max_body_bytes)
        sessions = SessionLimits(
            mcp, per_client=settings.max_sessions_per_client, idle_timeout=settings.session_idle_timeout
        )
        routes.append(Route(MCP_PATH, ClientWatch(sessions)))
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
    app: ASGIApp = Starlette(
        routes=[_health(gateway, sessions, replicas, kept, fast), _ready(stopping), *routes], lifespan=lifespan
    )
    if replicas is not None:
        # Inside authentication: a request is authenticated before it is forwarded (and again by the owner).
        holds = manager.holds if isinstance(manager, ReplicatedSessionManager) else (lambda _: False)
        app = ReplicaRouter(
            app,
            ids=replicas.ids,
            peers=replicas.peers,
            holds=holds,
            sse_prefix=f"{MESSAGE_PATH}/",
            mcp_paths=frozenset({MCP_PATH, SSE_PATH}),
        )
    authentication = gateway.access.authentication
    bearer = BearerAuth(app, authentication) if authentication is not None else None
    app = JsonRpcErrorBodies(bearer or app)
    if bearer is not None:
        # Outside the JSON error bodies (its sign-in page is HTML), inside the Host/Origin guard and timeouts.
        app = UiLogin(app, bearer)
    timed = BodyReadTimeout(app, settings.body_timeout)
    draining = DrainingApp(timed, stream_paths=frozenset({MCP_PATH, SSE_PATH}), hands_over=replicas is not None)
    guarded = HostOriginGuard(
        draining,
        bind_host=settings.host,
        allowed_hosts=settings.allowed_hosts,
        allowed_origins=settings.allowed_origins,
    )
    return guarded, draining


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
    drain: Drain,
    replicas: Replicas | None = None,
) -> None:
    app, draining = build_http_app(gateway, server, settings, replicas, drain.requested)
    max_connections, burst = connection_budget(settings.max_connections)
    limits = Limits(
        max_connections=max_connections,
        header_timeout=settings.header_timeout,
        idle_timeout=settings.keep_alive_timeout,
    )
    for noisy in ("uvicorn.error", "asyncio"):  # e.g. accept() failing thousands of times a second
        logging.getLogger(noisy).addFilter(RepeatLimit())
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        # The request-head deadline and the connection cap are applied by the h11 protocol (the default).
        http=limits.protocol() if settings.http_parser == "h11" else settings.http_parser,
        backlog=burst,
        timeout_keep_alive=math.ceil(settings.keep_alive_timeout),
        log_level="warning",
        lifespan="on",
        access_log=False,
        # A backstop only: the drain below closes every request by the end of the grace period.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace) + 5,
    )
    if settings.http_parser != "h11":
        logger.warning(
            "--http-parser %s: --header-timeout and --max-connections are not enforced (only with h11)",
            settings.http_parser,
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

    async def drain_when_asked() -> None:
        await drain.requested.wait()
        draining.begin()  # new requests get 503, or behind replicas go to the other replicas
        gateway.notifier.close()  # subscriptions/listen streams end
        if settings.transport == "streaming":
            draining.close_streams()  # GET /mcp streams carry only notifications
        if replicas is not None:
            replicas.peers.draining = True
            logger.info("draining: handing new requests to the other replicas for %gs", settings.shutdown_handover)
            await drain.handed_over(settings.shutdown_handover)
        http.should_exit = True  # uvicorn stops accepting and closes idle connections
        logger.info("draining: %d call(s) in flight, waiting up to %gs", drain.inflight.count, settings.shutdown_grace)
        if settings.transport == "streaming":
            await drain.calls_finished(draining.requests_finished)
        else:
            await drain.calls_finished(draining.requests_finished, partial(anyio.sleep, SSE_FLUSH_SECONDS))
        draining.close_all()  # SSE streams (their calls are answered) and whatever is left at the deadline

    async with anyio.create_task_group() as tg:
        tg.start_soon(announce)
        tg.start_soon(drain_when_asked)
        if replicas is not None and replicas.follower is not None:
            tg.start_soon(replicas.follower.follow)
        await http.serve()
        tg.cancel_scope.cancel()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
