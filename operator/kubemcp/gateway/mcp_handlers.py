"""The MCP face of the gateway: a lowlevel SDK `Server` whose handlers call the `Gateway`."""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.models import InitializationOptions

import kubemcp
from kubemcp.backend.hooks import CallHooks
from kubemcp.gateway.core import Gateway
from kubemcp.gateway.listing_cache import ListingCache
from kubemcp.gateway.principal import PrincipalBinding

Ctx = ServerRequestContext[Any, Any]

INSTRUCTIONS = (
    "kubemcp serves the tools, prompts and resources of many MCP servers. A name that several servers "
    "offer is served as '<server>__<name>'."
)


class GatewayServer(Server[Any]):
    """Advertises list_changed for tools, prompts and resources: the served set can change while running."""

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


def _hooks(ctx: Ctx) -> CallHooks:
    """Pass a backend's progress and log notifications on to the client that made the request."""

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        await ctx.session.report_progress(progress, total, message)

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        await ctx.session.send_log_message(params.level, params.data, params.logger, related_request_id=ctx.request_id)

    session = getattr(ctx.session, "_connection", None)  # the client's connection outlives the request
    return CallHooks(on_log=on_log, on_progress=on_progress, session=session)


def build_server(gateway: Gateway) -> Server[Any]:
    async def list_tools(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=(await gateway.listing(full=False)).tools)

    async def call_tool(ctx: Ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await gateway.call_tool(params.name, params.arguments, _hooks(ctx))

    async def list_prompts(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=(await gateway.listing(full=True)).prompts)

    async def get_prompt(ctx: Ctx, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        return await gateway.get_prompt(params.name, params.arguments, _hooks(ctx))

    async def list_resources(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=(await gateway.listing(full=True)).resources)

    async def list_templates(
        ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=(await gateway.listing(full=True)).resource_templates
        )

    async def read_resource(ctx: Ctx, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        return await gateway.read_resource(str(params.uri), _hooks(ctx))

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
        on_subscriptions_listen=gateway.notifier.listen,
        get_tool_input_schema=gateway.cached_tool_schema,
    )
    # The session registry and the caller's principal: the SDK's default tracing middleware costs
    # time on every request.
    # tools/list: a view's rendered answer is kept with it (`listing_cache`).
    server.middleware = [gateway.notifier, PrincipalBinding(http=gateway.settings.http), ListingCache(gateway)]
    return server
