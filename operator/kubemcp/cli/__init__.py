"""The `kubemcp` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kubemcp import __version__
from kubemcp.cli import (
    catalog_cmd,
    client_cmd,
    config_cmd,
    gateway_cmd,
    oauth_cmd,
    operator_cmd,
    secret_cmd,
    server_cmd,
    token_cmd,
    tools_cmd,
)
from kubemcp.cli._common import examples
from kubemcp.errors import KubemcpError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubemcp", description="One MCP endpoint over many MCP servers.")
    parser.add_argument("--version", action="version", version=f"kubemcp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    gateway_cmd.register(commands)
    tools_cmd.register(commands)
    token_cmd.register(commands)
    server_cmd.register(commands)
    catalog_cmd.register(commands)
    config_cmd.register(commands)
    secret_cmd.register(commands)
    oauth_cmd.register(commands)
    client_cmd.register(commands)
    operator_cmd.register(commands)
    completion = commands.add_parser(
        "completion",
        help="print the shell completion script",
        **examples("kubemcp completion bash > ~/.kubemcp-completion && source ~/.kubemcp-completion"),
    )
    completion.add_argument("shell", choices=["bash", "zsh", "fish", "tcsh"], nargs="?", default="bash")
    completion.set_defaults(handler=_completion)
    return parser


def _completion(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    print(shellcode(["kubemcp"], shell=args.shell), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if argv is None:
        import argcomplete

        argcomplete.autocomplete(parser)  # answers and exits when the shell asks for completions
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
