"""A runtime fake for unit tests: each "instance" is an in-process MCP server on memory streams.

It stands in for the process boundary only; acceptance tests use the real local runtime.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

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
