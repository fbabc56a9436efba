"""FastMCP's proxy in front of one stdio MCP server, served over streamable HTTP on loopback.

`python bench/fastmcp_proxy.py COMMAND [ARG...]` starts COMMAND as the backend, connects a FastMCP
client to it, builds `fastmcp.server.create_proxy(<connected client>)` (which reuses that one backend
session for every request) and serves it on a free port. When ready it writes
`serving MCP on http://127.0.0.1:PORT/mcp` to stderr, like `kubemcp gateway run`.
"""

from __future__ import annotations

import socket
import sys

import anyio
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.server import create_proxy

HOST = "127.0.0.1"
PATH = "/mcp"


def listening_socket() -> socket.socket:
    # IPPROTO_TCP (not the default 0) matters: asyncio only sets TCP_NODELAY on sockets whose `proto`
    # says TCP, and without it small responses meet Nagle's algorithm and 40 ms delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(128)
    return sock


async def serve(command: list[str]) -> None:
    backend = Client(StdioTransport(command=command[0], args=command[1:], keep_alive=True))
    async with backend:
        proxy = create_proxy(backend, name="fastmcp-proxy")
        sock = listening_socket()
        port = sock.getsockname()[1]
        # The socket already listens: connections made from now on wait in its backlog until uvicorn accepts.
        print(f"serving MCP on http://{HOST}:{port}{PATH}", file=sys.stderr, flush=True)
        await proxy.run_http_async(transport="http", sockets=[sock], path=PATH, show_banner=False, log_level="warning")


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: fastmcp_proxy.py COMMAND [ARG...]")
    anyio.run(serve, sys.argv[1:])


if __name__ == "__main__":
    main()
