"""`kubemcp catalog show`: the merged catalog, as kubemcp reads it; `catalog import`: as an MCPCatalog."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from kubemcp.cli._common import catalog_paths
from kubemcp.errors import KubemcpError
from kubemcp.files.catalog import load_catalogs


def register(commands: Any) -> None:
    parser = commands.add_parser("catalog", help="inspect catalogs")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="show the merged catalog")
    show.add_argument("--catalog", action="append", metavar="FILE", type=Path)
    show.add_argument("--format", choices=["summary", "yaml", "json"], default="summary")
    show.set_defaults(handler=_show)
    imported = actions.add_parser("import", help="print an MCPCatalog manifest made from a Docker-format catalog file")
    imported.add_argument("file", type=Path, metavar="FILE")
    imported.add_argument("--name", help="the MCPCatalog's name (default: the catalog's 'name')")
    imported.add_argument("--namespace", "-n", help="put the manifest in this namespace")
    imported.set_defaults(handler=_import)


def _show(args: argparse.Namespace) -> int:
    paths = catalog_paths(args)
    if not paths:
        raise KubemcpError("no catalog: pass --catalog FILE")
    catalog = load_catalogs(paths)
    if args.format == "summary":
        for name, entry in catalog.entries.items():
            tools = "discovered at first use" if entry.tools is None else f"{len(entry.tools)} tools"
            forms = [f for f, present in (("image", entry.image), ("process", entry.process)) if present]
            print(f"{name:24} {'+'.join(forms) or entry.type:16} {tools:26} {entry.description[:60]}")
        return 0
    data = {
        "version": 2,
        "name": "+".join(catalog.names),
        "registry": {
            name: entry.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
            for name, entry in catalog.entries.items()
        },
    }
    print(json.dumps(data, indent=2) if args.format == "json" else yaml.safe_dump(data, sort_keys=False), end="")
    return 0


def _import(args: argparse.Namespace) -> int:
    from kubemcp.crd.convert import import_catalog

    result = import_catalog(args.file, name=args.name, namespace=args.namespace)
    for server, reason in result.skipped.items():
        print(f"skipped {server}: {reason}", file=sys.stderr)
    print(yaml.safe_dump(result.manifest, sort_keys=False), end="")
    return 0
