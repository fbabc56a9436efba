"""`kubemcp server ls|inspect|enable|disable`, as `docker mcp server` has them (`list`, `add` and `remove`
still work): which catalog servers the registry enables, and what one of them is."""

from __future__ import annotations

import argparse
import json
from typing import Any

import yaml

from kubemcp.cli._common import add_file_options, catalog_paths, default_registry, default_secrets, examples
from kubemcp.errors import KubemcpError
from kubemcp.files.catalog import Catalog, load_catalogs
from kubemcp.files.registry import RegistryFile, RegistryItem, load_registry, save_registry


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "server",
        help="enable, disable and inspect servers",
        **examples("kubemcp server enable github-official", "kubemcp server ls"),
    )
    add_file_options(parser)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser(
        "ls", aliases=["list"], help="list enabled servers", **examples("kubemcp server ls", "kubemcp server ls --json")
    )
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(handler=_list)
    inspect = actions.add_parser(
        "inspect",
        help="show a server's catalog entry, its state and what it needs",
        **examples("kubemcp server inspect time"),
    )
    inspect.add_argument("name")
    inspect.set_defaults(handler=_inspect)
    enable = actions.add_parser(
        "enable",
        aliases=["add"],
        help="enable catalog servers",
        **examples("kubemcp server enable github-official duckduckgo", "kubemcp server enable GitHub.Official"),
    )
    enable.add_argument("names", nargs="+")
    enable.set_defaults(handler=_enable)
    disable = actions.add_parser(
        "disable", aliases=["remove"], help="disable servers", **examples("kubemcp server disable duckduckgo")
    )
    disable.add_argument("names", nargs="+")
    disable.set_defaults(handler=_disable)


def _load(args: argparse.Namespace) -> RegistryFile:
    path = default_registry(args)
    return load_registry(path) if path.is_file() else RegistryFile()


def _catalog(args: argparse.Namespace) -> Catalog | None:
    paths = catalog_paths(args)
    return load_catalogs(paths) if paths else None


def _list(args: argparse.Namespace) -> int:
    names = _load(args).enabled
    if args.json:
        print(json.dumps(names))
    else:
        for name in names:
            print(name)
    return 0


def _enable(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    registry = _load(args)
    for written in args.names:
        name = written
        if catalog is not None:
            resolved = catalog.resolve(written)
            if resolved is None:
                raise KubemcpError(f"not in the catalog: {written}")
            name = catalog.catalog_names.get(resolved, resolved)
        registry.registry.setdefault(name, RegistryItem())
    save_registry(default_registry(args), registry)
    return 0


def _disable(args: argparse.Namespace) -> int:
    registry = _load(args)
    catalog = _catalog(args)
    removed = []
    for written in args.names:
        keys = {written}
        if catalog is not None and (resolved := catalog.resolve(written)) is not None:
            keys |= {resolved, catalog.catalog_names.get(resolved, resolved)}
        found = [key for key in keys if key in registry.registry]
        if not found:
            raise KubemcpError(f"not enabled: {written}")
        for key in found:
            del registry.registry[key]
        removed.append(written)
    save_registry(default_registry(args), registry)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from kubemcp.files.secrets import read_secrets

    catalog = _catalog(args)
    if catalog is None:
        raise KubemcpError("no catalog: pass --catalog FILE or add one with 'kubemcp catalog add'")
    name = catalog.resolve(args.name)
    if name is None:
        raise KubemcpError(f"not in the catalog: {args.name}")
    registry = _load(args)
    written = catalog.catalog_names.get(name, name)
    report: dict[str, Any] = {
        "name": name,
        "catalogName": written,
        "enabled": written in registry.registry or name in registry.registry,
    }
    if name in catalog.refused:
        report["refused"] = catalog.refused[name].problems
    else:
        entry = catalog.entries[name]
        source = catalog.sources[name]
        report["source"] = f"{source.path}:{source.line}" if source.line else source.path
        stored = read_secrets(default_secrets(args.secrets))
        report["secrets"] = {ref.name: "set" if ref.name in stored else "not set" for ref in entry.secret_refs()}
        report["entry"] = entry.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    print(yaml.safe_dump(report, sort_keys=False), end="")
    return 0
