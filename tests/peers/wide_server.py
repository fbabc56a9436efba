"""A remote MCP server with as many tools and as large schemas as asked, on loopback (streamable HTTP).

`python wide_server.py --tools N --schema-bytes B` binds 127.0.0.1 on a free port and prints
`listening on URL`. Each tool `tool_<i>` takes one argument whose description is B bytes long, so
its `inputSchema` is about B bytes: what a server with a large discovered schema looks like.
"""

import argparse
import socket
import sys
from typing import Annotated, Any

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import Field


def _tool(index: int, schema_bytes: int) -> Any:
    # words, not one repeated character: nothing on the way may shorten it as a run
    text = " ".join(f"w{index}-{n}" for n in range(schema_bytes // 6))[:schema_bytes]

    def echo(value: Annotated[str, Field(description=text)] = "") -> str:  # annotations evaluated here, not lazily
        return f"tool_{index}: {value}"

    return echo


def build(tools: int, schema_bytes: int) -> MCPServer:
    server: MCPServer = MCPServer("wide")
    for index in range(tools):
        server.add_tool(_tool(index, schema_bytes), name=f"tool_{index}", description=f"tool number {index}")
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tools", type=int, default=2)
    parser.add_argument("--schema-bytes", type=int, default=100)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # connections wait in the backlog until uvicorn serves: none is refused
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app: Any = build(args.tools, args.schema_bytes).streamable_http_app(
        transport_security=security, stateless_http=True, json_response=True
    )
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}/mcp", flush=True)
    sys.stdout.flush()
    anyio.run(uvicorn.Server(config).serve, [sock])


if __name__ == "__main__":
    main()
