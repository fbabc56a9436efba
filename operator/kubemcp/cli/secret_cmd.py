"""`kubemcp secret set|ls|rm`: the local secret store, or (`--kubernetes`) a Kubernetes Secret.

Values are never printed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kubemcp.cli._common import default_secrets, examples
from kubemcp.errors import SecretStoreError
from kubemcp.files.secrets import check_secret_value, parse_assignment, read_secrets, write_secrets
from kubemcp.model.names import check_secret_name


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "secret", help="manage secrets (values are never shown)", **examples("kubemcp secret set github.token=ghp_...")
    )
    parser.add_argument("--store", type=Path, help="secret store file (default: $KUBEMCP_HOME/secrets.env)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    set_parser = actions.add_parser(
        "set",
        help="set NAME=value, or NAME with the value on standard input",
        **examples(
            "kubemcp secret set github.personal_access_token=ghp_...", "kubemcp secret set docs.token < token.txt"
        ),
    )
    set_parser.add_argument("assignments", nargs="+", metavar="NAME=value")
    set_parser.set_defaults(handler=_set)
    ls_parser = actions.add_parser("ls", help="list secret names", **examples("kubemcp secret ls"))
    ls_parser.set_defaults(handler=_ls)
    rm_parser = actions.add_parser("rm", help="remove secrets", **examples("kubemcp secret rm docs.token"))
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


def _in_kubernetes(args: argparse.Namespace, action: str, values: dict[str, str] | None, names: list[str]) -> list[str]:
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


def _stdin_value(name: str) -> str:
    """The value on standard input, exactly, but for the one newline that ends `echo`'s output."""
    stream = getattr(sys.stdin, "buffer", None)
    raw = stream.read() if stream is not None else sys.stdin.read().encode("utf-8", "surrogateescape")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretStoreError(f"the value of {name!r} on standard input is not valid UTF-8") from None
    return check_secret_value(name, text.removesuffix("\n"))


def _set(args: argparse.Namespace) -> int:
    store = default_secrets(args.store)
    secrets = {} if args.kubernetes else read_secrets(store)
    from_stdin = [text for text in args.assignments if "=" not in text]
    if len(from_stdin) > 1:
        raise SecretStoreError(f"only one NAME can take its value from standard input, not {', '.join(from_stdin)}")
    for text in args.assignments:
        if "=" in text:
            name, value = parse_assignment(text)
        else:
            name = check_secret_name(text)
            value = _stdin_value(name)
        secrets[name] = value
    if args.kubernetes:
        _in_kubernetes(args, "set", secrets, [])
    else:
        write_secrets(store, secrets)
    print(f"set {', '.join(a.partition('=')[0] for a in args.assignments)}", file=sys.stderr)
    return 0


def _ls(args: argparse.Namespace) -> int:
    names = _in_kubernetes(args, "ls", None, []) if args.kubernetes else read_secrets(default_secrets(args.store))
    for name in sorted(names):
        print(name)
    return 0


def _rm(args: argparse.Namespace) -> int:
    if args.kubernetes:
        absent = _in_kubernetes(args, "rm", None, [check_secret_name(name) for name in args.names])
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
