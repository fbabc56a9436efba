"""`kubemcp secret set|ls|rm`: the local secret store. Values are never printed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kubemcp.cli._common import default_secrets
from kubemcp.errors import SecretStoreError
from kubemcp.files.secrets import check_name, parse_assignment, read_secrets, write_secrets


def register(commands: Any) -> None:
    parser = commands.add_parser("secret", help="manage secrets (values are never shown)")
    parser.add_argument("--store", type=Path, help="secret store file (default: $KUBEMCP_HOME/secrets.env)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    set_parser = actions.add_parser("set", help="set NAME=value, or NAME with the value on standard input")
    set_parser.add_argument("assignments", nargs="+", metavar="NAME=value")
    set_parser.set_defaults(handler=_set)
    ls_parser = actions.add_parser("ls", help="list secret names")
    ls_parser.set_defaults(handler=_ls)
    rm_parser = actions.add_parser("rm", help="remove secrets")
    rm_parser.add_argument("names", nargs="+", metavar="NAME")
    rm_parser.set_defaults(handler=_rm)


def _set(args: argparse.Namespace) -> int:
    store = default_secrets(args.store)
    secrets = read_secrets(store)
    for text in args.assignments:
        if "=" in text:
            name, value = parse_assignment(text)
        else:
            name, value = check_name(text), sys.stdin.read().rstrip("\n")
        secrets[name] = value
    write_secrets(store, secrets)
    print(f"set {', '.join(a.partition('=')[0] for a in args.assignments)}", file=sys.stderr)
    return 0


def _ls(args: argparse.Namespace) -> int:
    for name in sorted(read_secrets(default_secrets(args.store))):
        print(name)
    return 0


def _rm(args: argparse.Namespace) -> int:
    store = default_secrets(args.store)
    secrets = read_secrets(store)
    missing = [name for name in args.names if name not in secrets]
    if missing:
        raise SecretStoreError(f"no such secret: {', '.join(missing)}")
    for name in args.names:
        del secrets[name]
    write_secrets(store, secrets)
    return 0
