"""Docker's POCI entries (`type: poci`): no MCP server image, but tools that each name a container.

The gateway serves such an entry as an in-process MCP server: `tools/list` answers from the
catalog (each tool's `parameters` is its input schema) and `tools/call` runs the tool's container
once on the local engine — its `command`, `volumes` and `user` templated from the call's
arguments (`{{query}}`), with the entry's secrets and env and the isolation defaults of any
server container — and returns what the container printed as text (an error result, with the
output, when it exits with a non-zero status).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import aiodocker
import anyio
import mcp_types as types
from mcp.client._memory import InMemoryTransport
from mcp.server import Server
from mcp.server.context import ServerRequestContext

from kubemcp.errors import ServerError
from kubemcp.masking import mask
from kubemcp.model import templates
from kubemcp.model.entry import ToolDef
from kubemcp.model.link import BackendLink
from kubemcp.model.spec import ServerSpec
from kubemcp.runtimes.container_config import create_body
from kubemcp.runtimes.docker_engine import DockerEngineRuntime
from kubemcp.runtimes.engine_client import describe_error

logger = logging.getLogger(__name__)

OUTPUT_LIMIT = 1024 * 1024
TOOL_TIMEOUT_SECONDS = 600.0


def tool_listing(tool: ToolDef) -> types.Tool:
    return types.Tool(name=tool.name, description=tool.description, input_schema=tool.schema_for_listing())


class PociRuntime:
    name = "poci"

    def __init__(self, engine: DockerEngineRuntime) -> None:
        self.engine = engine

    def server(self, spec: ServerSpec) -> Server[Any]:
        tools = {tool.name: tool for tool in spec.entry.tools or [] if tool.container is not None}

        async def list_tools(
            ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
        ) -> types.ListToolsResult:
            return types.ListToolsResult(tools=[tool_listing(tool) for tool in tools.values()])

        async def call_tool(
            ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
        ) -> types.CallToolResult:
            tool = tools.get(params.name)
            if tool is None:
                return _text(f"unknown tool {params.name!r}", error=True)
            return await self.run_tool(spec, tool, dict(params.arguments or {}))

        return Server(spec.name, version="poci", on_list_tools=list_tools, on_call_tool=call_tool)

    async def run_tool(self, spec: ServerSpec, tool: ToolDef, arguments: dict[str, Any]) -> types.CallToolResult:
        assert tool.container is not None
        try:
            env = spec.environment()
            client = await self.engine.client(spec.name)
        except ServerError as exc:
            return _text(str(exc), error=True)
        command = [
            templates.expand_from(part, env) for part in templates.evaluate_list(tool.container.command, arguments)
        ]
        volumes = [v for v in templates.evaluate_list(tool.container.volumes, arguments) if v.strip()]
        user = templates.text(templates.evaluate(tool.container.user, arguments)) if tool.container.user else None
        try:
            body = create_body(
                spec,
                image=tool.container.image,
                command=command,
                env=env,
                volumes=volumes,
                user=user or None,
                network=self.engine.network,
                role="tool",
                stdin=False,
            )
        except ServerError as exc:
            return _text(str(exc), error=True)
        redact = list(spec.secret_env.values())
        output: list[bytes] = []
        size = 0
        try:
            with anyio.fail_after(TOOL_TIMEOUT_SECONDS):
                async with self.engine.attached(client, spec, body) as attached:
                    while size < OUTPUT_LIMIT:
                        message = await attached.stream.read_out()
                        if message is None:
                            break
                        if message.stream == 1:
                            output.append(bytes(message.data))
                            size += len(message.data)
                    code = -1
                    with anyio.move_on_after(5), suppress(aiodocker.DockerError):
                        state = await attached.container.wait(condition="not-running")
                        code = int(state.get("StatusCode", -1))
        except TimeoutError:
            return _text(f"tool {tool.name} did not finish within {TOOL_TIMEOUT_SECONDS:.0f}s", error=True)
        except ServerError as exc:
            return _text(str(exc), error=True)
        except aiodocker.DockerError as exc:
            return _text(f"tool {tool.name}: {describe_error(exc)}", error=True)
        text = mask(b"".join(output).decode(errors="replace"), redact)
        return _text(text, error=code != 0)

    @asynccontextmanager
    async def connect(self, spec: ServerSpec) -> AsyncIterator[BackendLink]:
        async with InMemoryTransport(self.server(spec)) as streams:
            yield BackendLink(streams=streams)


def _text(text: str, *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=error)
