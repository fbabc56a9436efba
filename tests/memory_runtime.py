"""A runtime fake for unit tests: each "instance" is an in-process MCP server on memory streams.

It stands in for the process boundary only; acceptance tests use the real local runtime.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

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
