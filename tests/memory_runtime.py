"""A runtime fake for unit tests: each "instance" is an in-process MCP server on memory streams.

It stands in for the process boundary only; acceptance tests use the real local runtime.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import mcp_types as types
from kubemcp.model.link import BackendLink
from kubemcp.model.spec import ServerSpec
from mcp.client._memory import InMemoryTransport
from mcp.server.mcpserver import MCPServer


class MemoryRuntime:
    name = "memory"

    def __init__(self, factory: Callable[[ServerSpec, int], MCPServer]) -> None:
        self.factory = factory
        self.started = 0
        self.running = 0

    @asynccontextmanager
    async def connect(self, spec: ServerSpec) -> AsyncIterator[BackendLink]:
        self.started += 1
        self.running += 1
        try:
            async with InMemoryTransport(self.factory(spec, self.started)) as streams:
                yield BackendLink(streams=streams, pid=self.started)
        finally:
            self.running -= 1


def counter_server(spec: ServerSpec, instance: int) -> MCPServer:
    server = MCPServer(spec.name)

    @server.tool()
    def instance_number() -> int:
        """Which instance answered."""
        return instance

    @server.tool()
    def greet(name: str) -> str:
        """Say hello."""
        return f"hello {name} from {spec.name}"

    @server.prompt()
    def hello() -> str:
        """A prompt."""
        return "hello"

    return server


def completing_server(spec: ServerSpec, instance: int) -> MCPServer:
    """A server with a prompt and a resource template whose arguments complete with the server's name."""
    server = counter_server(spec, instance)

    @server.resource(f"{spec.name}://{{item}}")
    def item(item: str) -> str:
        """An item."""
        return item

    async def complete(ctx: Any, params: types.CompleteRequestParams) -> types.CompleteResult:
        if isinstance(params.ref, types.PromptReference):
            values = [f"{spec.name}: {params.ref.name} {params.argument.value}"]
        else:
            values = [f"{spec.name}: {params.argument.name}"]
        return types.CompleteResult(completion=types.Completion(values=values))

    server._lowlevel_server.add_request_handler("completion/complete", types.CompleteRequestParams, complete)
    return server


class RecordingSession:
    """A client session as backends see it (`SessionLink`), recording what reaches it outside calls."""

    def __init__(self, log_level: types.LoggingLevel | None = None) -> None:
        self.log_level = log_level
        self.logs: list[types.LoggingMessageNotificationParams] = []
        self.notifications: list[types.ServerNotification] = []

    async def send_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params)

    async def send_notification(self, notification: types.ServerNotification) -> None:
        self.notifications.append(notification)
