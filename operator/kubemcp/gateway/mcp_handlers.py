"""The MCP face of the gateway: a lowlevel SDK `Server` whose handlers call the `Gateway`."""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerMiddleware, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.shared.exceptions import MCPError

import kubemcp
from kubemcp.gateway.client_gone import watched
from kubemcp.gateway.core import Gateway
from kubemcp.gateway.interaction import hooks_for, interact, session_of
from kubemcp.gateway.listing_cache import ListingCache
from kubemcp.gateway.principal import PrincipalBinding
from kubemcp.gateway.resource_subscriptions import GatewayListen
from kubemcp.gateway.served_capabilities import announce
from kubemcp.model.spec import ServerSpec

Ctx = ServerRequestContext[Any, Any]

INSTRUCTIONS = (
    "kubemcp serves the tools, prompts and resources of many MCP servers. A name that several servers "
    "offer is served as '<server>__<name>'."
)


class GatewayServer(Server[Any]):
    """Advertises list_changed for tools, prompts and resources (the served set can change while running),
    and logging, completions and resource subscriptions as the served servers offer them."""

    gateway: Gateway
    listing_cache: ListingCache

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options
            or NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True),
            experimental_capabilities,
            extensions,
        )

    def get_capabilities(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
        *,
        protocol_version: str | None = None,
    ) -> types.ServerCapabilities:
        base = super().get_capabilities(
            notification_options, experimental_capabilities, extensions, protocol_version=protocol_version
        )
        return announce(base, self.gateway.known_capabilities())


def _session_required(ctx: Ctx) -> Any:
    raise MCPError(types.INVALID_REQUEST, f"{ctx.method} needs a session (the handshake protocol era)")


def client_went_away() -> MCPError:
    return MCPError(types.INTERNAL_ERROR, "the request was cancelled: its client went away")


def build_server(gateway: Gateway, *middleware: ServerMiddleware[Any]) -> Server[Any]:
    """The gateway's MCP server; `middleware` run around every request (after the session registry and
    the caller's principal)."""

    async def list_tools(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=(await gateway.listing(full=False)).tools)

    async def call_tool(
        ctx: Ctx, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        with watched(ctx.request):
            return await interact(
                gateway,
                ctx,
                params.request_state,
                lambda hooks: gateway.call_tool(params.name, params.arguments, hooks),
            )
        raise client_went_away()

    async def list_prompts(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=(await gateway.listing(full=True)).prompts)

    async def get_prompt(
        ctx: Ctx, params: types.GetPromptRequestParams
    ) -> types.GetPromptResult | types.InputRequiredResult:
        with watched(ctx.request):
            return await interact(
                gateway,
                ctx,
                params.request_state,
                lambda hooks: gateway.get_prompt(params.name, params.arguments, hooks),
            )
        raise client_went_away()

    async def list_resources(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=(await gateway.listing(full=True)).resources)

    async def list_templates(
        ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=(await gateway.listing(full=True)).resource_templates
        )

    async def read_resource(
        ctx: Ctx, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult | types.InputRequiredResult:
        with watched(ctx.request):
            return await interact(
                gateway, ctx, params.request_state, lambda hooks: gateway.read_resource(str(params.uri), hooks)
            )
        raise client_went_away()

    async def complete(ctx: Ctx, params: types.CompleteRequestParams) -> types.CompleteResult:
        return await gateway.complete(params, hooks_for(gateway, ctx))

    async def subscribe(ctx: Ctx, params: types.SubscribeRequestParams) -> types.EmptyResult:
        state = session_of(gateway, ctx) or _session_required(ctx)
        await gateway.subscribe(str(params.uri), state, hooks_for(gateway, ctx))
        return types.EmptyResult()

    async def unsubscribe(ctx: Ctx, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        state = session_of(gateway, ctx) or _session_required(ctx)
        await gateway.unsubscribe(str(params.uri), state)
        return types.EmptyResult()

    async def set_level(ctx: Ctx, params: types.SetLevelRequestParams) -> types.EmptyResult:
        state = session_of(gateway, ctx) or _session_required(ctx)
        state.level = params.level
        return types.EmptyResult()

    async def roots_changed(ctx: Ctx, params: types.NotificationParams) -> None:
        state = session_of(gateway, ctx)
        if state is not None:
            await gateway.roots_changed(state)

    async def owner(uri: str) -> ServerSpec:
        server, name = await gateway.resource_owner(uri)
        gateway.access.admit("resource", uri, server, name)
        return gateway.specs[server]

    server = GatewayServer(
        "kubemcp",
        version=kubemcp.__version__,
        title="kubemcp gateway",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
        on_subscribe_resource=subscribe,
        on_unsubscribe_resource=unsubscribe,
        on_completion=complete,
        on_subscriptions_listen=GatewayListen(gateway.notifier.listen, gateway.subscriptions, owner),
        get_tool_input_schema=gateway.cached_tool_schema,
    )
    server.gateway = gateway
    # Deprecated in 2026-07-28, so registered without the constructor's deprecation warning.
    server.add_request_handler("logging/setLevel", types.SetLevelRequestParams, set_level)
    server.add_notification_handler("notifications/roots/list_changed", types.NotificationParams, roots_changed)
    # The session registry, the caller's principal, the seal on `requestState` (it names a pending
    # exchange, see `gateway.exchanges`), the kept tools/list answers (`listing_cache`), then
    # `middleware`. The SDK's default tracing middleware is left out: it costs time on every request.
    server.listing_cache = ListingCache(gateway)
    boundary = RequestStateBoundary(
        RequestStateSecurity.ephemeral(ttl=gateway.exchanges.ttl), default_audience="kubemcp"
    )
    server.middleware = [
        gateway.notifier,
        PrincipalBinding(http=gateway.settings.http),
        boundary,
        server.listing_cache,
        *middleware,
    ]
    return server
