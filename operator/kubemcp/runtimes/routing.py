"""One runtime for a catalog: remote entries are connected to, the others run by the base runtime (local
processes, or Kubernetes Pods). Where a remote server's secrets and OAuth tokens come from: the local
secret store, or in a cluster the MCPServer's Kubernetes Secret (the gateway connects out, no Pod)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from kubemcp.errors import ServerUnavailableError
from kubemcp.files.secrets import read_secrets
from kubemcp.kube.api import KubeApi
from kubemcp.kube.secret_keys import read_keys
from kubemcp.model.entry import CatalogEntry
from kubemcp.model.link import BackendLink
from kubemcp.model.runtime import Runtime
from kubemcp.model.spec import ServerSpec
from kubemcp.runtimes.remote import RemoteConnector, SecretValues
from kubemcp.runtimes.remote_oauth import KubeSlot, LocalSlot, OAuthTokens, SecretSlot, token_secret

DEFAULT_SECRET_NAME = "kubemcp-secrets"  # noqa: S105 - the name of a Secret, not a value


def is_remote(entry: CatalogEntry) -> bool:
    return entry.type == "remote" or (entry.remote is not None and entry.image is None and entry.process is None)


class WithRemote:
    """`base` for entries it runs, `remote` for remote entries. The base's cluster client and namespace,
    if it has them, are this runtime's too (the replicas find their peers with them)."""

    def __init__(self, base: Runtime, remote: RemoteConnector) -> None:
        self.base = base
        self.remote = remote
        self.name = base.name
        self.kube: KubeApi | None = getattr(base, "kube", None)
        self.namespace: str | None = getattr(base, "namespace", None)

    def connect(self, spec: ServerSpec) -> AbstractAsyncContextManager[BackendLink]:
        return self.remote.connect(spec) if is_remote(spec.entry) else self.base.connect(spec)


TokenSource = Callable[[ServerSpec], OAuthTokens | None]


def token_source(slot: Callable[[ServerSpec], SecretSlot]) -> TokenSource:
    """One `OAuthTokens` per server and URL, kept so that one refresh serves every connection."""
    known: dict[tuple[str, str], OAuthTokens] = {}

    def tokens(spec: ServerSpec) -> OAuthTokens | None:
        if spec.entry.remote is None:
            return None
        key = (spec.name, spec.entry.remote.url)
        if key not in known:
            known[key] = OAuthTokens(spec.name, spec.entry.remote.url, slot(spec))
        return known[key]

    return tokens


def _values(spec: ServerSpec, found: dict[str, str], fix: str) -> dict[str, str]:
    missing = [ref.name for ref in spec.entry.secrets if ref.name not in found]
    if missing:
        raise ServerUnavailableError(spec.name, f"secret(s) not set: {', '.join(missing)} (set with {fix})")
    return {ref.env: found[ref.name] for ref in spec.entry.secrets}


def local_remote(store: Path) -> RemoteConnector:
    """Remote servers with secrets and tokens from the local store, read when connecting (a secret set
    while the gateway runs is used from the next connection on)."""

    async def secret_values(spec: ServerSpec) -> dict[str, str]:
        return _values(spec, read_secrets(store) if spec.entry.secrets else {}, "'kubemcp secret set NAME=…'")

    tokens = token_source(lambda spec: LocalSlot(store, token_secret(spec.name)))
    return RemoteConnector(secret_values=secret_values, tokens=tokens)


def _secret_of(spec: ServerSpec, namespace: str) -> tuple[str, str]:
    return spec.form.namespace or namespace, spec.form.secret_name or DEFAULT_SECRET_NAME


def kube_remote(kube: KubeApi, namespace: str) -> RemoteConnector:
    """Remote servers with secrets and tokens from each MCPServer's Kubernetes Secret."""

    async def secret_values(spec: ServerSpec) -> dict[str, str]:
        where, secret = _secret_of(spec, namespace)
        names = [ref.name for ref in spec.entry.secrets]
        found = await read_keys(kube, where, secret, names) if names else {}
        return _values(spec, found, f"'kubemcp secret set NAME=… --kubernetes -n {where} --secret-name {secret}'")

    def slot(spec: ServerSpec) -> SecretSlot:
        where, secret = _secret_of(spec, namespace)
        return KubeSlot(kube, where, secret, token_secret(spec.name))

    values: SecretValues = secret_values
    return RemoteConnector(secret_values=values, tokens=token_source(slot))
