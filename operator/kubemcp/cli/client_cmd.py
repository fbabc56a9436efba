"""`kubemcp client ls|connect|disconnect`, as `docker mcp client` has them: write a desktop client's or
IDE's MCP configuration so it uses the kubemcp gateway (see `kubemcp.cli.clients`)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from kubemcp.cli import clients
from kubemcp.cli._common import examples


def register(commands: Any) -> None:
    supported = ", ".join(clients.CLIENTS)
    parser = commands.add_parser(
        "client", help=f"connect desktop clients and IDEs ({supported})", **examples("kubemcp client connect cursor")
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser("ls", aliases=["list"], help="which clients are connected", **examples("kubemcp client ls"))
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=_ls)
    connect = actions.add_parser(
        "connect",
        help="add the kubemcp entry to a client's configuration (a backup is kept)",
        **examples(
            "kubemcp client connect claude-desktop",
            "kubemcp client connect vscode --url http://127.0.0.1:8811/mcp",
            "kubemcp client connect cursor --print",
        ),
    )
    connect.add_argument("client", choices=list(clients.CLIENTS))
    connect.add_argument("--url", help="use the gateway's streamable HTTP endpoint instead of starting it over stdio")
    connect.add_argument("--print", action="store_true", help="print the entry instead of writing the file")
    connect.set_defaults(handler=_connect)
    disconnect = actions.add_parser(
        "disconnect", help="remove the kubemcp entry", **examples("kubemcp client disconnect claude-desktop")
    )
    disconnect.add_argument("client", choices=list(clients.CLIENTS))
    disconnect.set_defaults(handler=_disconnect)


def _home() -> Path:
    return Path.home()


def _command() -> str:
    """The kubemcp executable a client should start: this one."""
    beside = Path(sys.executable).parent / "kubemcp"
    if beside.is_file():
        return str(beside)
    return shutil.which("kubemcp") or "kubemcp"


def _ls(args: argparse.Namespace) -> int:
    rows = []
    for kind in clients.CLIENTS.values():
        path = kind.path(_home())
        state = clients.connected(kind, path)
        status = "no configuration file" if state is None else ("connected" if state else "not connected")
        rows.append({"client": kind.name, "name": kind.display, "status": status, "file": str(path)})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['client']:16} {row['status']:22} {row['file']}")
    return 0


def _connect(args: argparse.Namespace) -> int:
    kind = clients.client_kind(args.client)
    if args.url:
        entry = clients.http_entry(kind, args.url, clients.bearer_token())
    else:
        env = {key: os.environ[key] for key in ("KUBEMCP_HOME",) if os.environ.get(key)}
        entry = clients.stdio_entry(kind, _command(), env)
    if args.print:
        print(json.dumps({kind.key: {clients.ENTRY_NAME: entry}}, indent=2))
        return 0
    path = kind.path(_home())
    backup = clients.connect(kind, path, entry)
    print(f"connected {kind.display}: {path}" + (f" (backup: {backup})" if backup else ""), file=sys.stderr)
    return 0


def _disconnect(args: argparse.Namespace) -> int:
    kind = clients.client_kind(args.client)
    path = kind.path(_home())
    if clients.disconnect(kind, path):
        print(f"disconnected {kind.display}: {path}", file=sys.stderr)
    else:
        print(f"{kind.display} was not connected ({path})", file=sys.stderr)
    return 0
