"""`kubemcp tools ls|inspect|call`, as `docker mcp tools` has them: the enabled servers' tools, through a
gateway run in this process (servers start as `gateway run` would start them)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import anyio
import mcp_types as types

from kubemcp.cli._common import add_file_options, examples
from kubemcp.errors import KubemcpError, SettingsError
from kubemcp.validation import one_line


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "tools", help="list, inspect and call the enabled servers' tools", **examples("kubemcp tools ls")
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser(
        "ls", aliases=["list"], help="list tools", **examples("kubemcp tools ls", "kubemcp tools ls --format json")
    )
    inspect = actions.add_parser("inspect", help="show one tool's definition", **examples("kubemcp tools inspect roll"))
    inspect.add_argument("tool")
    call = actions.add_parser(
        "call",
        help="call a tool with key=value arguments",
        **examples("kubemcp tools call roll notation=2d6", 'kubemcp tools call search query="docker mcp" limit=3'),
    )
    call.add_argument("tool")
    call.add_argument("arguments", nargs="*", metavar="KEY=VALUE")
    for action, handler in ((ls, _ls), (inspect, _inspect), (call, _call)):
        add_file_options(action)
        action.add_argument("--servers", action="append", metavar="A,B", help="only these servers")
        action.add_argument("--format", choices=["list", "json"], default="list")
        action.set_defaults(handler=handler)


def _settings(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from kubemcp.cli._common import split_list
    from kubemcp.gateway.settings import GatewaySettings

    try:
        return GatewaySettings.with_defaults(
            catalogs=args.catalog or [],
            registry=args.registry,
            config=args.config,
            secrets=args.secrets,
            servers=split_list(args.servers),
            watch=False,
        )
    except ValidationError as exc:
        raise SettingsError(one_line(exc, root="settings")) from None


async def _with_gateway(args: argparse.Namespace, work: Any) -> Any:
    from kubemcp.backend.hooks import CallHooks
    from kubemcp.backend.session import single_cause
    from kubemcp.gateway.app import prepared
    from kubemcp.gateway.core import Gateway

    try:
        async with prepared(_settings(args)) as (settings, runtime):
            gateway = Gateway(settings, runtime)
            async with gateway.running():
                return await work(gateway, CallHooks())
    except BaseExceptionGroup as group:
        cause = single_cause(group)
        if isinstance(cause, KubemcpError):
            raise cause from None
        raise


def _tools(args: argparse.Namespace) -> list[types.Tool]:
    async def work(gateway: Any, _hooks: Any) -> list[types.Tool]:
        listing = await gateway.listing(full=False)
        return list(listing.tools)

    tools: list[types.Tool] = anyio.run(_with_gateway, args, work)
    return tools


def _ls(args: argparse.Namespace) -> int:
    tools = _tools(args)
    if args.format == "json":
        print(json.dumps([tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools], indent=2))
        return 0
    print(f"{len(tools)} tools:")
    for tool in tools:
        summary = (tool.description or "").strip().splitlines()[0:1]
        print(f" - {tool.name}" + (f" - {summary[0][:100]}" if summary else ""))
    return 0


def _inspect(args: argparse.Namespace) -> int:
    for tool in _tools(args):
        if tool.name == args.tool:
            data = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
            if args.format == "json":
                print(json.dumps(data, indent=2))
            else:
                schema = json.dumps(tool.input_schema, indent=2)
                print(f"{tool.name}\n\n{tool.description or ''}\n\ninput schema:\n{schema}")
            return 0
    raise KubemcpError(f"no tool {args.tool!r} (see 'kubemcp tools ls')")


def parse_arguments(pairs: list[str], schema: dict[str, Any] | None) -> dict[str, Any]:
    """`key=value` pairs; a value is JSON (number, boolean, list, object) unless the schema says string."""
    properties = (schema or {}).get("properties") or {}
    arguments: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise KubemcpError(f"argument {pair!r} is not KEY=VALUE")
        kind = (properties.get(key) or {}).get("type")
        if kind == "string":
            arguments[key] = value
            continue
        try:
            arguments[key] = json.loads(value)
        except ValueError:
            arguments[key] = value
    return arguments


def _call(args: argparse.Namespace) -> int:
    async def work(gateway: Any, hooks: Any) -> types.CallToolResult:
        listing = await gateway.listing(full=False)
        schema = next((tool.input_schema for tool in listing.tools if tool.name == args.tool), None)
        if schema is None:
            raise KubemcpError(f"no tool {args.tool!r} (see 'kubemcp tools ls')")
        from mcp.shared.exceptions import MCPError

        try:
            result: types.CallToolResult = await gateway.call_tool(
                args.tool, parse_arguments(args.arguments, schema), hooks
            )
        except MCPError as exc:
            raise KubemcpError(exc.error.message) from None
        return result

    result: types.CallToolResult = anyio.run(_with_gateway, args, work)
    if args.format == "json":
        print(json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2))
    else:
        for block in result.content:
            text = block.text if isinstance(block, types.TextContent) else json.dumps(block.model_dump(mode="json"))
            print(text)
    if result.is_error:
        print(f"kubemcp: tool {args.tool} returned an error", file=sys.stderr)
        return 1
    return 0
