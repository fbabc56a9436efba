"""The `kubemcp` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kubemcp import __version__
from kubemcp.cli import catalog_cmd, gateway_cmd, operator_cmd, secret_cmd, server_cmd
from kubemcp.errors import KubemcpError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubemcp", description="One MCP endpoint over many MCP servers.")
    parser.add_argument("--version", action="version", version=f"kubemcp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    gateway_cmd.register(commands)
    secret_cmd.register(commands)
    server_cmd.register(commands)
    catalog_cmd.register(commands)
    operator_cmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except KubemcpError as exc:
        print(f"kubemcp: error: {exc}", file=sys.stderr)
        return 1
    except BaseExceptionGroup as group:  # raised inside a task group: report a lone error like any other
        lone = _lone_error(group)
        if lone is None:
            raise
        print(f"kubemcp: error: {lone}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _lone_error(group: BaseExceptionGroup[BaseException]) -> KubemcpError | None:
    found: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            found.append(exc)

    walk(group)
    return found[0] if len(found) == 1 and isinstance(found[0], KubemcpError) else None
