"""`kubemcp server list|add|remove`: edit which catalog servers the registry enables."""

from __future__ import annotations

import argparse
from typing import Any

from kubemcp.cli._common import add_file_options, catalog_paths, default_registry
from kubemcp.errors import KubemcpError
from kubemcp.files.catalog import load_catalogs
from kubemcp.files.registry import RegistryFile, RegistryItem, load_registry, save_registry


def register(commands: Any) -> None:
    parser = commands.add_parser("server", help="enable and disable servers in the registry")
    add_file_options(parser)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="list enabled servers").set_defaults(handler=_list)
    add = actions.add_parser("add", help="enable catalog servers")
    add.add_argument("names", nargs="+")
    add.set_defaults(handler=_add)
    remove = actions.add_parser("remove", help="disable servers")
    remove.add_argument("names", nargs="+")
    remove.set_defaults(handler=_remove)


def _load(args: argparse.Namespace) -> RegistryFile:
    path = default_registry(args)
    return load_registry(path) if path.is_file() else RegistryFile()


def _list(args: argparse.Namespace) -> int:
    for name in _load(args).enabled:
        print(name)
    return 0


def _add(args: argparse.Namespace) -> int:
    paths = catalog_paths(args)
    if paths:
        known = load_catalogs(paths).entries
        unknown = [name for name in args.names if name not in known]
        if unknown:
            raise KubemcpError(f"not in the catalog: {', '.join(unknown)}")
    registry = _load(args)
    for name in args.names:
        registry.registry.setdefault(name, RegistryItem())
    save_registry(default_registry(args), registry)
    return 0


def _remove(args: argparse.Namespace) -> int:
    registry = _load(args)
    missing = [name for name in args.names if name not in registry.registry]
    if missing:
        raise KubemcpError(f"not enabled: {', '.join(missing)}")
    for name in args.names:
        del registry.registry[name]
    save_registry(default_registry(args), registry)
    return 0
