"""`kubemcp oauth authorize|ls|rm`: OAuth tokens of remote servers, kept like secrets.

Tokens go to the local secret store, or (`--kubernetes`) to the Kubernetes Secret the MCPServer
reads (`kubemcp-secrets` unless it names another), as the secret `oauth.<server>`. Token values are
never printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import anyio

from kubemcp.cli._common import catalog_paths, default_secrets
from kubemcp.errors import KubemcpError
from kubemcp.files.catalog import load_catalogs
from kubemcp.files.secrets import read_secrets, write_secrets
from kubemcp.model.entry import CatalogEntry
from kubemcp.runtimes.remote_oauth import LocalSlot, OAuthTokens, SecretSlot, token_secret

DEFAULT_SECRET_NAME = "kubemcp-secrets"  # noqa: S105 - the name of a Secret, not a value


def register(commands: Any) -> None:
    parser = commands.add_parser("oauth", help="OAuth tokens of remote servers (values are never shown)")
    parser.add_argument("--store", type=Path, help="secret store file (default: $KUBEMCP_HOME/secrets.env)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    authorize = actions.add_parser("authorize", help="authorize kubemcp at a remote server (opens a browser)")
    authorize.add_argument("server", metavar="SERVER")
    authorize.add_argument("--catalog", action="append", type=Path, metavar="FILE", help="catalog with the entry")
    authorize.add_argument("--url", help="the server's MCP URL (default: the entry's remote.url)")
    authorize.add_argument("--transport", choices=["streamable-http", "sse"], help="default: the entry's")
    authorize.add_argument("--scope", help="OAuth scopes to ask for (space-separated)")
    authorize.add_argument("--client-id", help="a client registered beforehand (default: dynamic registration)")
    authorize.add_argument("--port", type=int, default=0, help="loopback port of the redirect (default: any)")
    authorize.add_argument("--no-browser", action="store_true", help="print the URL only")
    authorize.set_defaults(handler=_authorize)
    listing = actions.add_parser("ls", help="servers with stored tokens")
    listing.set_defaults(handler=_ls)
    remove = actions.add_parser("rm", help="forget a server's tokens")
    remove.add_argument("server", metavar="SERVER")
    remove.set_defaults(handler=_rm)
    for action in (authorize, listing, remove):
        group = action.add_argument_group("Kubernetes Secret (the one the MCPServer reads)")
        group.add_argument("--kubernetes", action="store_true", help="use a Kubernetes Secret, not the local store")
        group.add_argument("--namespace", "-n", help="the Secret's namespace (default: the kubeconfig's)")
        group.add_argument("--secret-name", default=DEFAULT_SECRET_NAME, help="the Secret (default kubemcp-secrets)")
        group.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)")


def _entry(args: argparse.Namespace) -> CatalogEntry | None:
    paths = args.catalog or catalog_paths(args)
    if not paths:
        return None
    entry = load_catalogs(paths).entries.get(args.server)
    if entry is None:
        raise KubemcpError(f"no server {args.server!r} in {', '.join(map(str, paths))}")
    return entry


def _authorize(args: argparse.Namespace) -> int:
    from kubemcp.runtimes.oauth_authorize import AuthorizationFailed, authorize

    entry = _entry(args) if args.url is None or args.transport is None else None
    remote = entry.remote if entry is not None else None
    url = args.url or (remote.url if remote is not None else None)
    if url is None:
        raise KubemcpError(f"no URL for {args.server!r}: pass --url, or --catalog with its remote entry")
    sse = (args.transport or (remote.transport_type if remote is not None else "")).lower() == "sse"

    async def run(slot: SecretSlot) -> None:
        tokens = OAuthTokens(args.server, url, slot)
        try:
            await authorize(
                tokens,
                sse=sse,
                scope=args.scope,
                port=args.port,
                client_id=args.client_id,
                open_browser=not args.no_browser,
                show=lambda text: print(text, file=sys.stderr, flush=True),
            )
        except AuthorizationFailed as exc:
            raise KubemcpError(str(exc)) from exc

    _with_slot(args, run)
    print(f"authorized {args.server}: token stored as secret {token_secret(args.server)}", file=sys.stderr)
    return 0


def _with_slot(args: argparse.Namespace, work: Any) -> None:
    if not args.kubernetes:
        anyio.run(work, LocalSlot(default_secrets(args.store), token_secret(args.server)))
        return
    from kubemcp.kube.client import KubeClient
    from kubemcp.kube.config import load_config
    from kubemcp.runtimes.remote_oauth import KubeSlot

    config = load_config(args.kubeconfig, namespace=args.namespace)

    async def in_cluster() -> None:
        async with KubeClient(config) as kube:
            await work(KubeSlot(kube, config.namespace, args.secret_name, token_secret(args.server)))

    anyio.run(in_cluster)


def _kube_keys(args: argparse.Namespace, action: str, names: list[str]) -> list[str]:
    from kubemcp.cli.secret_cmd import in_kubernetes

    return in_kubernetes(args, action, None, names)


def _ls(args: argparse.Namespace) -> int:
    names = _kube_keys(args, "ls", []) if args.kubernetes else list(read_secrets(default_secrets(args.store)))
    for name in sorted(names):
        if name.startswith("oauth."):
            print(name.removeprefix("oauth."))
    return 0


def _rm(args: argparse.Namespace) -> int:
    name = token_secret(args.server)
    if args.kubernetes:
        if _kube_keys(args, "rm", [name]):
            raise KubemcpError(f"no stored tokens for {args.server!r}")
        return 0
    store = default_secrets(args.store)
    secrets = read_secrets(store)
    if secrets.pop(name, None) is None:
        raise KubemcpError(f"no stored tokens for {args.server!r}")
    write_secrets(store, secrets)
    return 0
