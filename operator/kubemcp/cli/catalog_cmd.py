"""`kubemcp catalog ls|add|rm|show|import`. `ls`, `add` and `rm` manage `$KUBEMCP_HOME/catalogs/` as
`docker mcp catalog` manages `~/.docker/mcp/catalogs/` (the gateway reads every catalog there);
`show` prints the merged catalog as kubemcp reads it; `import` prints an MCPCatalog manifest."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from kubemcp.atomic import write_text
from kubemcp.cli._common import catalog_paths, examples
from kubemcp.errors import KubemcpError
from kubemcp.files._located import parse_yaml
from kubemcp.files.catalog import load_catalog_file, load_catalogs
from kubemcp.gateway.settings import kubemcp_home

CATALOG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def register(commands: Any) -> None:
    parser = commands.add_parser("catalog", help="manage and inspect catalogs", **examples("kubemcp catalog ls"))
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser(
        "ls", aliases=["list"], help="list the catalogs the gateway reads", **examples("kubemcp catalog ls")
    )
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=_ls)
    add = actions.add_parser(
        "add",
        help="add a catalog file, or one server of it, to a catalog in $KUBEMCP_HOME/catalogs",
        **examples(
            "kubemcp catalog add docker-mcp ~/.docker/mcp/catalogs/docker-mcp.yaml   # the whole file",
            "kubemcp catalog add my-servers github-official ./docker-mcp.yaml      # one server of it",
        ),
    )
    add.add_argument("name", help="the catalog to add to (created if absent)")
    add.add_argument("server_or_file", metavar="[SERVER] FILE", nargs="+")
    add.set_defaults(handler=_add)
    rm = actions.add_parser(
        "rm", aliases=["remove"], help="remove a catalog", **examples("kubemcp catalog rm my-servers")
    )
    rm.add_argument("name")
    rm.set_defaults(handler=_rm)
    show = actions.add_parser(
        "show", help="show the merged catalog", **examples("kubemcp catalog show", "kubemcp catalog show --format yaml")
    )
    show.add_argument("--catalog", action="append", metavar="FILE", type=Path)
    show.add_argument("--format", choices=["summary", "yaml", "json"], default="summary")
    show.set_defaults(handler=_show)
    imported = actions.add_parser(
        "import",
        help="print an MCPCatalog manifest made from a Docker-format catalog file",
        **examples("kubemcp catalog import docker-mcp.yaml -n kubemcp-system | kubectl apply -f -"),
    )
    imported.add_argument("file", type=Path, metavar="FILE")
    imported.add_argument("--name", help="the MCPCatalog's name (default: the catalog's 'name')")
    imported.add_argument("--namespace", "-n", help="put the manifest in this namespace")
    imported.set_defaults(handler=_import)


def catalogs_folder() -> Path:
    return kubemcp_home() / "catalogs"


def _catalog_file(name: str) -> Path:
    if not CATALOG_NAME.match(name):
        raise KubemcpError(f"catalog name {name!r} must be letters, digits, '.', '_' or '-'")
    return catalogs_folder() / f"{name}.yaml"


def _ls(args: argparse.Namespace) -> int:
    rows = []
    for path in catalog_paths(argparse.Namespace()):
        try:
            loaded, _ = load_catalog_file(path)
            rows.append(
                {
                    "name": path.stem,
                    "catalog": loaded.display_name or loaded.name,
                    "servers": len(loaded.entries),
                    "refused": len(loaded.refused),
                    "file": str(path),
                }
            )
        except KubemcpError as exc:
            rows.append({"name": path.stem, "error": str(exc), "file": str(path)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        detail = row.get("error") or f"{row['catalog']}: {row['servers']} servers" + (
            f", {row['refused']} refused" if row["refused"] else ""
        )
        print(f"{row['name']:24} {detail}")
    return 0


def _add(args: argparse.Namespace) -> int:
    if len(args.server_or_file) > 2:
        raise KubemcpError("expected FILE or SERVER FILE")
    source = Path(args.server_or_file[-1])
    server = args.server_or_file[0] if len(args.server_or_file) == 2 else None
    loaded, document = load_catalog_file(source)  # malformed files are refused whole, naming the line
    target = _catalog_file(args.name)
    folder = str(source.resolve().parent)
    if server is None:
        # kubemcp's `{{catalog_dir}}` keeps meaning the folder the file came from.
        write_text(target, source.read_text(encoding="utf-8").replace("{{catalog_dir}}", folder))
        print(f"added {len(loaded.entries)} servers as catalog {args.name} ({target})", file=sys.stderr)
        return 0
    registry = (document.data or {}).get("registry") or {}
    written = next((key for key in registry if key == server or key.lower().replace(".", "-") == server), None)
    if written is None:
        raise KubemcpError(f"{source} has no server {server!r}")
    data: dict[str, Any] = {"version": 3, "name": args.name, "registry": {}}
    if target.is_file():
        existing = parse_yaml(target).data or {}
        data.update({key: existing[key] for key in ("version", "name", "displayName") if key in existing})
        data["registry"] = dict(existing.get("registry") or {})
    data["registry"][written] = registry[written]
    write_text(target, yaml.safe_dump(data, sort_keys=False).replace("{{catalog_dir}}", folder))
    print(f"added {written} to catalog {args.name} ({target})", file=sys.stderr)
    return 0


def _rm(args: argparse.Namespace) -> int:
    target = _catalog_file(args.name)
    if not target.is_file():
        raise KubemcpError(f"no catalog {args.name!r} in {catalogs_folder()}")
    target.unlink()
    return 0


def _show(args: argparse.Namespace) -> int:
    paths = catalog_paths(args)
    if not paths:
        raise KubemcpError("no catalog: pass --catalog FILE or add one with 'kubemcp catalog add'")
    catalog = load_catalogs(paths)
    if args.format == "summary":
        for name, entry in catalog.entries.items():
            tools = "discovered at first use" if entry.tools is None else f"{len(entry.tools)} tools"
            forms = [f for f, present in (("image", entry.image), ("process", entry.process)) if present]
            print(f"{name:24} {'+'.join(forms) or entry.type:16} {tools:26} {entry.description[:60]}")
        for name, refused in catalog.refused.items():
            print(f"{name:24} {'refused':16} {refused.problems[0]}")
        return 0
    data = {
        "version": 3,
        "name": "+".join(catalog.names),
        "registry": {
            catalog.catalog_names.get(name, name): entry.model_dump(
                mode="json", by_alias=True, exclude_none=True, exclude_defaults=True
            )
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
