"""MCPServer -> the catalog entry the gateway will run -> `ServerSpec` and digest. Pure: no API calls.

The entry is the catalog's (or the inline one) with the MCPServer's overrides, plus the
`kubernetes:` form the gateway's Kubernetes runtime reads. The operator and every gateway build
their `ServerSpec` from this same entry and config, so they agree on its digest (which labels the
warm-pool Pods the gateway claims).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kubemcp.controller import kinds
from kubemcp.crd.models import EntrySpec, MCPServerSpec, parse_entries
from kubemcp.errors import ServerError
from kubemcp.kube.pods import server_pod
from kubemcp.model.entry import CatalogEntry, CatalogSource
from kubemcp.model.lifecycle import Lifecycle
from kubemcp.model.names import SERVER_NAME
from kubemcp.model.spec import ServerSpec, build_spec
from kubemcp.runtimes.routing import is_remote
from kubemcp.validation import one_line

Obj = dict[str, Any]


class ResolveError(Exception):
    """Why an MCPServer cannot be served: `reason` is a condition reason, `message` says what to fix."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")


@dataclass(frozen=True)
class Resolved:
    name: str
    namespace: str
    server: MCPServerSpec
    entry: CatalogEntry
    spec: ServerSpec
    catalog: str | None
    entry_name: str | None

    @property
    def digest(self) -> str:
        return self.spec.digest

    @property
    def image(self) -> str:
        return self.entry.image or ""

    @property
    def what(self) -> str:
        """What runs: the image, or the remote server's URL."""
        if is_remote(self.entry) and self.entry.remote is not None:
            return f"remote {self.entry.remote.url}"
        return self.image


def parse_server(obj: Obj) -> MCPServerSpec:
    try:
        return MCPServerSpec.model_validate(obj.get("spec") or {})
    except ValidationError as exc:
        raise ResolveError("InvalidSpec", one_line(exc, root="spec")) from None


def catalog_entry(server: MCPServerSpec, catalog: Obj | None) -> tuple[EntrySpec | None, str | None, str | None, str]:
    """The entry an MCPServer names; `catalog` is the MCPCatalog object (None when it does not exist)."""
    if server.inline is not None:
        return server.inline, None, None, "inline"
    assert server.catalog_ref is not None
    ref = server.catalog_ref
    if catalog is None:
        raise ResolveError("CatalogNotFound", f"MCPCatalog {ref.name!r} does not exist in this namespace")
    entries, problems = parse_entries(catalog.get("spec"))
    entry = ref.entry or ""
    if entry in problems:
        raise ResolveError("InvalidCatalog", f"MCPCatalog {ref.name!r} entry {entry!r}: {problems[entry]}")
    return entries.get(entry), ref.name, ref.entry, f"mcpcatalog/{ref.name}"


def kubernetes_form(server: MCPServerSpec, namespace: str, entry: EntrySpec, pull_policy: str | None) -> Obj:
    form: Obj = {
        "namespace": namespace,
        "secretName": server.secret_name,
        "lifecycle": effective_lifecycle(server, entry).value,
        "perCallKind": server.per_call_kind,
        "warmPool": server.warm_pool,
        "maxInstances": server.max_instances,
        "deadlineSeconds": server.deadline_seconds,
        "idleTimeoutSeconds": server.idle_timeout_seconds,
        "imagePullPolicy": server.image_pull_policy or pull_policy,
        "readOnlyRootFilesystem": server.read_only_root_filesystem,
        "runAsUser": server.run_as_user,
    }
    return {key: value for key, value in form.items() if value is not None}


def effective_lifecycle(server: MCPServerSpec, entry: EntrySpec) -> Lifecycle:
    """The MCPServer's lifecycle; unset, the entry's `longLived` decides."""
    return Lifecycle.effective(server.lifecycle, long_lived=bool(entry.long_lived))


def resolve(obj: Obj, catalog: Obj | None, *, pull_policy: str | None = None) -> Resolved:
    """Everything the operator and the gateways need to run an MCPServer, or a `ResolveError`."""
    name, namespace = kinds.name_of(obj), kinds.namespace_of(obj)
    if not SERVER_NAME.match(name):
        raise ResolveError("InvalidName", f"{name!r} cannot be a server name (a DNS label of at most 63 characters)")
    server = parse_server(obj)
    if server.catalog_ref is not None and server.catalog_ref.entry is None:
        server = server.model_copy(update={"catalog_ref": server.catalog_ref.model_copy(update={"entry": name})})
    entry_spec, catalog_name, entry_name, origin = catalog_entry(server, catalog)
    if entry_spec is None:
        raise ResolveError("EntryNotFound", f"MCPCatalog {catalog_name!r} has no entry {entry_name!r}")
    data = entry_spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    if server.resources is not None:
        data["resources"] = server.resources.model_dump(mode="json", exclude_none=True)
    if server.mounts:
        added = {mount.name for mount in server.mounts}
        kept = [mount for mount in data.get("mounts", []) if mount.get("name") not in added]
        data["mounts"] = kept + [
            mount.model_dump(mode="json", by_alias=True, exclude_none=True) for mount in server.mounts
        ]
    data["longLived"] = effective_lifecycle(server, entry_spec) is Lifecycle.LONG_LIVED
    data["kubernetes"] = kubernetes_form(server, namespace, entry_spec, pull_policy)
    try:
        entry = CatalogEntry.model_validate(data)
    except ValidationError as exc:
        raise ResolveError("InvalidEntry", one_line(exc, root="spec")) from None
    source = CatalogSource(path=f"{origin} in namespace {namespace}", line=None, directory="/")
    spec = build_spec(name, entry, source, dict(server.config), {})
    try:
        if is_remote(entry):
            spec.check_config()
            for value in (entry.remote.headers if entry.remote else {}).values():
                spec.expand(value)  # every config placeholder expands (secret values are the gateway's)
        else:
            server_pod(spec, "discovery")  # every placeholder expands and required config is set
    except ServerError as exc:
        message = str(exc).removeprefix(f"server {name!r}: ")
        raise ResolveError("InvalidConfig", message) from None
    return Resolved(name, namespace, server, entry, spec, catalog_name, entry_name)
