"""`kubemcp token ls|create|show|rm`: the bearer tokens of a local HTTP gateway, by name.

A running gateway picks changes up without a restart. Only `show` prints a token."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kubemcp.files.tokens import (
    TokenStoreError,
    check_token_name,
    new_token,
    read_tokens_file,
    write_tokens_file,
)
from kubemcp.gateway.settings import default_tokens_file
from kubemcp.model.fields import DEFAULT_PORT

DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}/mcp"


def register(commands: Any) -> None:
    parser = commands.add_parser("token", help="manage the HTTP gateway's bearer tokens")
    parser.add_argument("--tokens-file", type=Path, help="tokens file (default: $KUBEMCP_HOME/tokens.env)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("ls", help="list token names (never the tokens)").set_defaults(handler=_ls)
    create = actions.add_parser("create", help="create a random token for a principal NAME")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--replace", action="store_true", help="replace NAME's token (rotate it)")
    create.set_defaults(handler=_create)
    show = actions.add_parser("show", help="print NAME's token, for a client's Authorization header")
    show.add_argument("name", metavar="NAME")
    show.add_argument(
        "--format",
        choices=["token", "header", "json"],
        default="token",
        help="the token alone, an 'Authorization: Bearer' header, or a client's mcpServers entry",
    )
    show.add_argument("--url", default=DEFAULT_URL, help=f"the gateway's URL for --format json (default {DEFAULT_URL})")
    show.set_defaults(handler=_show)
    rm = actions.add_parser("rm", help="remove tokens")
    rm.add_argument("names", nargs="+", metavar="NAME")
    rm.set_defaults(handler=_rm)


def _file(args: argparse.Namespace) -> Path:
    return args.tokens_file if args.tokens_file is not None else default_tokens_file()


def _ls(args: argparse.Namespace) -> int:
    for name in sorted(read_tokens_file(_file(args))):
        print(name)
    return 0


def _create(args: argparse.Namespace) -> int:
    path = _file(args)
    tokens = read_tokens_file(path)
    name = check_token_name(args.name)
    if name in tokens and not args.replace:
        raise TokenStoreError(f"token {name!r} exists (rotate it with --replace, or remove it first)")
    tokens[name] = new_token()
    write_tokens_file(path, tokens)
    option = "" if args.tokens_file is None else f" --tokens-file {path}"
    print(f"{'replaced' if args.replace else 'created'} token {name!r} in {path}", file=sys.stderr)
    print(f"print it with: kubemcp token{option} show {name}", file=sys.stderr)
    return 0


def _show(args: argparse.Namespace) -> int:
    path = _file(args)
    token = read_tokens_file(path).get(args.name)
    if token is None:
        raise TokenStoreError(f"no token {args.name!r} in {path}")
    if args.format == "token":
        print(token)
    elif args.format == "header":
        print(f"Authorization: Bearer {token}")
    else:
        entry = {"type": "http", "url": args.url, "headers": {"Authorization": f"Bearer {token}"}}
        print(json.dumps({"mcpServers": {"kubemcp": entry}}, indent=2))
    return 0


def _rm(args: argparse.Namespace) -> int:
    path = _file(args)
    tokens = read_tokens_file(path)
    missing = [name for name in args.names if name not in tokens]
    if missing:
        raise TokenStoreError(f"no such token: {', '.join(missing)}")
    for name in args.names:
        del tokens[name]
    write_tokens_file(path, tokens)
    return 0
