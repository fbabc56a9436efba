"""A test MCP server (the mcp SDK's `MCPServer`) exercising the protocol features a gateway must pass on.

`python feature_server.py` serves on stdio (`remote_server.py` serves it over HTTP), in both protocol eras:

- `summarize(topic)`: samples the client's model (`sampling/createMessage`);
- `order()`: a form elicitation with defaults and an enum (`elicitation/create`);
- `workspace()`: the client's roots (`roots/list`);
- `open_link()`: a URL-mode elicitation (handshake era only: the 2026 revision has no standalone request);
- `ping_client()`: pings the client (handshake era);
- `log_levels()`: one log message at each level, filtered by `logging/setLevel` (or, 2026, the request's level);
- `touch(uri)`: a `notifications/resources/updated` for `uri` to the sessions subscribed to it;
- prompt `greet(name, style)` and template `notes://{topic}`, both with argument completions;
- `resources/subscribe` and `resources/unsubscribe` (handshake era), `subscriptions/listen` (2026).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resolve import Elicit, ElicitationResult, ListRoots, Resolve, Sample
from pydantic import BaseModel, Field

LEVELS: list[types.LoggingLevel] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
NAMES = ["ada", "alan", "grace", "linus"]
TOPICS = ["apples", "apricots", "bananas"]


def connection_state(ctx: Any) -> dict[str, Any]:
    """Per-connection state of the handshake era (one dict per client connection)."""
    session = ctx.session if hasattr(ctx, "session") else ctx.request_context.session
    connection = getattr(session, "_connection", None)
    return connection.state if connection is not None else {}


class Order(BaseModel):
    size: Literal["small", "medium", "large"] = Field(default="medium", description="Cup size")
    quantity: int = Field(default=2, description="How many")
    gift: bool = Field(default=False, description="Wrap it")
    note: str = Field(default="none", description="A note")


def ask_order() -> Elicit[Order]:
    return Elicit("What would you like?", Order)


def ask_model(topic: str) -> Sample:
    message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text=f"tell me about {topic}"))
    return Sample([message], max_tokens=64, system_prompt="be brief")


def ask_roots() -> ListRoots:
    return ListRoots()


def completions(params: types.CompleteRequestParams) -> list[str]:
    ref, argument, context = params.ref, params.argument, params.context
    if isinstance(ref, types.PromptReference) and ref.name == "greet" and argument.name == "name":
        return [name for name in NAMES if name.startswith(argument.value)]
    if isinstance(ref, types.PromptReference) and ref.name == "greet" and argument.name == "style":
        name = (context.arguments or {}).get("name") if context is not None else None
        return [f"formal for {name}", "plain"] if name else ["plain"]
    if isinstance(ref, types.ResourceTemplateReference) and argument.name == "topic":
        return [topic for topic in TOPICS if topic.startswith(argument.value)]
    return []


async def complete(ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams) -> types.CompleteResult:
    return types.CompleteResult(completion=types.Completion(values=completions(params)))


async def set_level(ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams) -> types.EmptyResult:
    connection_state(ctx)["level"] = params.level
    return types.EmptyResult()


async def subscribe(ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams) -> types.EmptyResult:
    connection_state(ctx).setdefault("subscribed", set()).add(str(params.uri))
    return types.EmptyResult()


async def unsubscribe(ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams) -> types.EmptyResult:
    connection_state(ctx).setdefault("subscribed", set()).discard(str(params.uri))
    return types.EmptyResult()


def build(**options: Any) -> MCPServer:
    """The server; `options` go to `MCPServer` (authorization settings, say)."""
    server = MCPServer("features", version="1.0.0", **options)

    @server.tool()
    async def order(choice: Annotated[ElicitationResult[Order], Resolve(ask_order)]) -> dict[str, Any]:
        """Ask the user for an order (a form with defaults and an enum)."""
        if choice.action == "accept":
            return {"action": "accept", "order": choice.data.model_dump()}
        return {"action": choice.action}

    @server.tool()
    async def summarize(topic: str, answer: Annotated[types.CreateMessageResult, Resolve(ask_model)]) -> str:
        """Ask the client's model about a topic."""
        content = answer.content
        text = content.text if isinstance(content, types.TextContent) else str(content)
        return f"{answer.model}: {text}"

    @server.tool()
    async def workspace(found: Annotated[types.ListRootsResult, Resolve(ask_roots)]) -> list[str]:
        """The client's roots."""
        return [str(root.uri) for root in found.roots]

    @server.tool()
    async def open_link(ctx: Context) -> str:
        """Ask the user to open a link (URL-mode elicitation)."""
        result = await ctx.elicit_url("Please sign in", "https://example.com/login", str(uuid.uuid4()))
        return result.action

    @server.tool()
    async def ping_client(ctx: Context) -> str:
        """Ping the client."""
        await ctx.session.send_ping()
        return "pong"

    @server.tool()
    async def log_levels(ctx: Context) -> str:
        """One log message at each level; a handshake-era session gets those at or above the level it set."""
        wanted = connection_state(ctx).get("level")
        for level in LEVELS:
            if wanted is None or LEVELS.index(level) >= LEVELS.index(wanted):
                await ctx.log(level, f"{level} message", logger_name="features")
        return "logged"

    @server.tool()
    async def touch(uri: str, ctx: Context) -> str:
        """Report a change of `uri` to its subscribers."""
        if ctx.protocol_version == "2026-07-28":
            await ctx.notify_resource_updated(uri)
        elif uri in connection_state(ctx).get("subscribed", set()):
            await ctx.session.send_resource_updated(uri)
        return "touched"

    @server.resource("features://counter")
    def counter() -> str:
        """A resource clients subscribe to."""
        return "0"

    @server.resource("notes://{topic}")
    def note(topic: str) -> str:
        """A note per topic."""
        return f"notes on {topic}"

    @server.prompt()
    def greet(name: str, style: str = "plain") -> str:
        """Greet someone."""
        return f"hello {name} ({style})"

    lowlevel = server._lowlevel_server
    lowlevel.add_request_handler("completion/complete", types.CompleteRequestParams, complete)
    lowlevel.add_request_handler("logging/setLevel", types.SetLevelRequestParams, set_level)
    lowlevel.add_request_handler("resources/subscribe", types.SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, unsubscribe)
    return server


if __name__ == "__main__":
    build().run("stdio")
