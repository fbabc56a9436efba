"""Options shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kubemcp.gateway.settings import default_catalogs, kubemcp_home


def split_list(values: list[str] | None) -> list[str]:
    """`--servers a,b --servers c` -> ['a', 'b', 'c']."""
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def add_file_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--catalog", action="append", type=Path, metavar="FILE", help="catalog file; repeat to merge (later wins)"
    )
    parser.add_argument("--registry", type=Path, metavar="FILE", help="registry.yaml: which servers are enabled")
    parser.add_argument("--config", type=Path, metavar="FILE", help="config.yaml: per-server configuration")
    parser.add_argument("--secrets", type=Path, metavar="FILE", help="secret store (NAME=value lines)")


def default_registry(args: argparse.Namespace) -> Path:
    return args.registry if args.registry is not None else kubemcp_home() / "registry.yaml"


def default_secrets(path: Path | None) -> Path:
    return path if path is not None else kubemcp_home() / "secrets.env"


def catalog_paths(args: argparse.Namespace) -> list[Path]:
    if getattr(args, "catalog", None):
        return list(args.catalog)
    return default_catalogs()


def default_config(args: argparse.Namespace) -> Path:
    return args.config if getattr(args, "config", None) is not None else kubemcp_home() / "config.yaml"


def examples(*lines: str) -> dict[str, Any]:
    """`add_parser` keywords that show examples under `--help`."""
    text = "examples:\n" + "\n".join(f"  {line}" for line in lines)
    return {"epilog": text, "formatter_class": argparse.RawDescriptionHelpFormatter}
