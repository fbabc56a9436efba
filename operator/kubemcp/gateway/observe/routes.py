"""`/metrics` (Prometheus), `/ui` (the status page) and `/ui/state` (what the page shows, as JSON).

They are ordinary routes of the gateway's HTTP app, so whatever guards the app (Host/Origin checks,
authentication) guards them too; a browser signs in to `/ui` with a token (`gateway.ui_login`). The
page shows a caller what the authorization policy lets it use.
`--metrics-port` serves `/metrics` alone on a second port for a Prometheus that has no credentials.
"""

from __future__ import annotations

import secrets
import time
from importlib import resources
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

import kubemcp
from kubemcp.gateway.authz import EVERYTHING
from kubemcp.gateway.principal import LOCAL, Principal, acting_as, principal_of
from kubemcp.telemetry.metrics import exposition

if TYPE_CHECKING:
    from kubemcp.gateway.core import Gateway
    from kubemcp.gateway.replicas.peers import Peers

STARTED = time.time()
NONCE = "__NONCE__"


def page_headers(nonce: str) -> dict[str, str]:
    """A page runs only its own inline script and style (by nonce), talks and posts its forms (signing
    in and out) only to this gateway, and is never framed."""
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return {"Cache-Control": "no-store", "Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff"}


async def metrics(request: Request) -> Response:
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


def metrics_app() -> Starlette:
    """The second port's app: `/metrics` and nothing else."""
    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])


def page_text(name: str) -> str:
    """One of the pages kept next to this module (`status_page.html`, `login_page.html`)."""
    return resources.files("kubemcp.gateway.observe").joinpath(name).read_text(encoding="utf-8")


async def state_of(gateway: Gateway, peers: Peers | None, principal: Principal = LOCAL) -> dict[str, Any]:
    """Servers and their state, tools, warm pools, sessions, replicas and the recent calls.

    A caller the authorization policy limits sees only the servers and tools it may use and its own
    calls; one allowed everything sees the whole gateway."""
    grant = gateway.access.policy.grant(principal)[1]
    everything = grant is EVERYTHING or (grant.default_allow and not grant.deny)
    with acting_as(principal):
        listing = await gateway.listing(full=False)
    tools: dict[str, list[str]] = {}
    for public, route in sorted(listing.tool_routes.items()):
        tools.setdefault(route.server, []).append(public)
    warm_ready = gateway.pool.warm_ready()
    residents = gateway.pool.resident_counts()
    failures = gateway.discovery_failures()
    servers = []
    for name, spec in sorted(gateway.specs.items()):
        if name in failures:
            state = "failing"
        elif residents.get(name):
            state = "running"
        elif spec.warm_pool > 0:
            state = "warm" if warm_ready.get(name) else "warming"
        else:
            state = "idle"
        servers.append(
            {
                "name": name,
                "lifecycle": spec.lifecycle.words,
                "state": state,
                "instances": residents.get(name, 0),
                "warm": {"ready": warm_ready.get(name, 0), "size": spec.warm_pool} if spec.warm_pool else None,
                "tools": tools.get(name, []),
                "problem": failures.get(name),
            }
        )
    recent = gateway.recent.newest_first()
    if not everything:
        servers = [server for server in servers if server["tools"]]
        recent = [call for call in recent if call.get("principal") == str(principal)]
    for name, problems in sorted(gateway.refused.items() if everything else ()):
        servers.append(
            {
                "name": name,
                "lifecycle": "",
                "state": "refused",
                "instances": 0,
                "warm": None,
                "tools": [],
                "problem": "; ".join(problems),
            }
        )
    return {
        "principal": str(principal),
        "version": kubemcp.__version__,
        "runtime": gateway.runtime.name,
        "uptime_seconds": round(time.time() - STARTED),
        "servers": servers,
        "sessions": gateway.notifier.count(),
        "replica": peers.report() if peers is not None else None,
        "recent": recent,
    }


def observe_routes(gateway: Gateway, peers: Peers | None) -> list[Route]:
    async def page(request: Request) -> Response:
        nonce = secrets.token_urlsafe(16)
        return HTMLResponse(page_text("status_page.html").replace(NONCE, nonce), headers=page_headers(nonce))

    async def state(request: Request) -> Response:
        principal = principal_of(request, http=True) if gateway.settings.http else LOCAL
        return JSONResponse(await state_of(gateway, peers, principal), headers={"Cache-Control": "no-store"})

    return [
        Route("/metrics", metrics, methods=["GET"]),
        Route("/ui", page, methods=["GET"]),
        Route("/ui/state", state, methods=["GET"]),
    ]
