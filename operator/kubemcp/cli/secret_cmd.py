"""`kubemcp secret set|ls|rm`: the local secret store, or (`--kubernetes`) a Kubernetes Secret.

Values are never printed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kubemcp.cli._common import default_secrets
from kubemcp.errors import SecretStoreError
from kubemcp.files.secrets import parse_assignment, read_secrets, write_secrets
from kubemcp.model.names import check_secret_name


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
    for action in (set_parser, ls_parser, rm_parser):
        _kubernetes_options(action)


def _kubernetes_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Kubernetes Secret (the one MCPServers read)")
    group.add_argument("--kubernetes", action="store_true", help="use a Kubernetes Secret instead of the local store")
    group.add_argument("--namespace", "-n", help="the Secret's namespace (default: the kubeconfig's)")
    group.add_argument("--secret-name", default="kubemcp-secrets", help="the Secret (default kubemcp-secrets)")
    group.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)")


def in_kubernetes(args: argparse.Namespace, action: str, values: dict[str, str] | None, names: list[str]) -> list[str]:
    """Run one action against the Kubernetes Secret; returns key names (ls) or the missing ones (rm)."""
    import anyio

    from kubemcp.kube import secret_keys as kube_secrets
    from kubemcp.kube.client import KubeClient
    from kubemcp.kube.config import load_config

    config = load_config(args.kubeconfig, namespace=args.namespace)

    async def run() -> list[str]:
        async with KubeClient(config) as kube:
            if action == "set":
                await kube_secrets.set_keys(kube, config.namespace, args.secret_name, values or {})
                return []
            if action == "ls":
                return await kube_secrets.list_keys(kube, config.namespace, args.secret_name)
            return await kube_secrets.remove_keys(kube, config.namespace, args.secret_name, names)

    return anyio.run(run)


def _set(args: argparse.Namespace) -> int:
    store = default_secrets(args.store)
    secrets = {} if args.kubernetes else read_secrets(store)
    for text in args.assignments:
        if "=" in text:
            name, value = parse_assignment(text)
        else:
            name, value = check_secret_name(text), sys.stdin.read().rstrip("\n")
        secrets[name] = value
    if args.kubernetes:
        in_kubernetes(args, "set", secrets, [])
    else:
        write_secrets(store, secrets)
    print(f"set {', '.join(a.partition('=')[0] for a in args.assignments)}", file=sys.stderr)
    return 0


def _ls(args: argparse.Namespace) -> int:
    names = in_kubernetes(args, "ls", None, []) if args.kubernetes else read_secrets(default_secrets(args.store))
    for name in sorted(names):
        print(name)
    return 0


def _rm(args: argparse.Namespace) -> int:
    if args.kubernetes:
        absent = in_kubernetes(args, "rm", None, [check_secret_name(name) for name in args.names])
        if absent:
            raise SecretStoreError(f"no such secret: {', '.join(absent)}")
        return 0
    store = default_secrets(args.store)
    secrets = read_secrets(store)
    missing = [name for name in args.names if name not in secrets]
    if missing:
        raise SecretStoreError(f"no such secret: {', '.join(missing)}")
    for name in args.names:
        del secrets[name]
    write_secrets(store, secrets)
    return 0
