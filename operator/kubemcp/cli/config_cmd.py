"""`kubemcp config read|write`, as `docker mcp config` has them: the per-server config.yaml."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kubemcp.atomic import write_text
from kubemcp.cli._common import default_config, examples
from kubemcp.errors import FileFormatError
from kubemcp.files._located import parse_yaml, validate
from kubemcp.files.userconfig import UserConfig


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "config", help="read and write config.yaml (per-server settings)", **examples("kubemcp config read")
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    read = actions.add_parser("read", help="print config.yaml", **examples("kubemcp config read"))
    read.set_defaults(handler=_read)
    write = actions.add_parser(
        "write",
        help="replace config.yaml with YAML given as an argument or on standard input",
        **examples(
            "kubemcp config write 'filesystem: {paths: [/home/me/src]}'",
            "kubemcp config write < my-config.yaml",
        ),
    )
    write.add_argument("text", nargs="?", metavar="YAML")
    write.set_defaults(handler=_write)


def _read(args: argparse.Namespace) -> int:
    path = default_config(argparse.Namespace())
    if path.is_file():
        sys.stdout.write(path.read_text(encoding="utf-8"))
    return 0


def _write(args: argparse.Namespace) -> int:
    path = default_config(argparse.Namespace())
    text = args.text if args.text is not None else sys.stdin.read()
    document = parse_yaml(path, text)  # malformed YAML or a wrong shape is refused; the file stays as it was
    validate(document, UserConfig, empty={})
    if not text.endswith("\n"):
        text += "\n"
    try:
        write_text(path, text)
    except OSError as exc:
        raise FileFormatError(str(path), None, None, f"cannot write: {exc.strerror or exc}") from exc
    return 0
