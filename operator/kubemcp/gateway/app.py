"""Putting the gateway together: settings -> runtime -> core -> MCP server -> transport."""

from __future__ import annotations

import logging
from typing import TextIO

from kubemcp.gateway.core import Gateway
from kubemcp.gateway.local_runtime import LocalProcessRuntime
from kubemcp.gateway.mcp_server import build_server
from kubemcp.gateway.runtime import Runtime
from kubemcp.gateway.settings import GatewaySettings
from kubemcp.gateway.transports import serve_http, serve_stdio

logger = logging.getLogger(__name__)


def default_runtime() -> Runtime:
    return LocalProcessRuntime()


async def run_gateway(settings: GatewaySettings, runtime: Runtime | None = None) -> None:
    gateway = Gateway(settings, runtime or default_runtime())
    server = build_server(gateway)
    logger.info("kubemcp gateway: %d servers enabled (%s)", len(gateway.specs), ", ".join(gateway.specs) or "none")
    async with gateway.running():
        if settings.transport == "stdio":
            await serve_stdio(server)
        else:
            await serve_http(gateway, server, settings)


async def dry_run(settings: GatewaySettings, out: TextIO, runtime: Runtime | None = None) -> None:
    gateway = Gateway(settings, runtime or default_runtime())
    async with gateway.running():
        listing = await gateway.listing(full=True)
    print(f"{len(gateway.specs)} servers, {len(listing.tools)} tools", file=out)
    for name, spec in gateway.specs.items():
        mode = "long-lived" if spec.long_lived else "per call"
        print(f"server {name} ({mode})", file=out)
        for public, route in listing.tool_routes.items():
            if route.server == name:
                print(f"  tool {public}" + ("" if public == route.name else f" -> {route.name}"), file=out)
        for public, route in listing.prompt_routes.items():
            if route.server == name:
                print(f"  prompt {public}", file=out)
        for uri, owner in listing.resource_routes.items():
            if owner == name:
                print(f"  resource {uri}", file=out)
