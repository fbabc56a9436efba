"""kopf handlers: thin, each one calls a level-based reconciler.

Every resource is reconciled on each watch event and again by the periodic pass (`resync`), so a
missed event, a failed pass or an operator restart is made good by the next pass. No handler keeps
state in the objects: no kopf progress annotations and no finalizers, so deleting a resource never
waits for the operator.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from kubemcp.controller import kinds, server_network
from kubemcp.controller.context import Controller
from kubemcp.controller.mcpcatalog import reconcile_catalog, reconcile_users
from kubemcp.controller.mcpgateway import reconcile_gateway, reconcile_gateways_in
from kubemcp.controller.mcpserver import reconcile_server, server_removed
from kubemcp.controller.metrics import reconciled
from kubemcp.controller.options import OperatorOptions
from kubemcp.controller.resync import resync_forever
from kubemcp.crd.models import GROUP
from kubemcp.kube.client import KubeApiError, KubeClient
from kubemcp.kube.config import SERVICE_ACCOUNT, KubeConfig
from kubemcp.kube.pods import LABEL_CLAIMED, LABEL_SERVER

logger = logging.getLogger(__name__)

CATALOGS = kinds.RESOURCE[kinds.CATALOGS]
SERVERS = kinds.RESOURCE[kinds.SERVERS]
GATEWAYS = kinds.RESOURCE[kinds.GATEWAYS]


def configure(settings: kopf.OperatorSettings) -> None:
    settings.posting.enabled = False  # the operator posts its own Events, on condition changes only
    settings.persistence.finalizer = f"{GROUP}/cleanup"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    for plural, (api_version, selector) in kinds.OWNED.items():  # watched for the index: only what it keeps
        group, _, version = api_version.rpartition("/")
        settings.watching.label_selectors[group, version, plural] = selector


def controller(memo: Any) -> Controller:
    ctl: Controller = memo["controller"]
    return ctl


def observed(ctl: Controller, plural: str, event: Mapping[str, Any]) -> None:
    """Keep the index current with one watch event (before reconciling, so the reconcile reads it)."""
    obj = event.get("object")
    if not isinstance(obj, Mapping):
        return
    if event.get("type") == "DELETED":
        ctl.index.gone(plural, obj)
    else:
        ctl.index.seen(plural, obj)


async def _guarded(plural: str, what: str, work: Any) -> None:
    """Run one reconcile (counted and timed by kind); API trouble is logged and left to the next pass."""
    kind = kinds.KIND_OF[plural]
    try:
        await reconciled(kind, "event", work)
    except KubeApiError as exc:
        logger.warning("%s: %s (retried by the next pass)", what, exc)


def register(registry: kopf.OperatorRegistry, options: OperatorOptions, config: KubeConfig) -> None:

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
        configure(settings)
        kube = KubeClient(config)
        await kube.__aenter__()
        ctl = Controller(kube, options)
        memo["controller"], memo["kube"] = ctl, kube
        ctl.spawn(resync_forever(ctl), "resync")

    @kopf.on.login(registry=registry)
    def login(settings: kopf.OperatorSettings, logger: Any, **_: Any) -> kopf.ConnectionInfo | None:
        """kopf's own watches: the Pod's service account in a cluster, else $KUBECONFIG (set from --kubeconfig)."""
        if config.token_file is not None:  # in a cluster: the same address as our own client (no DNS needed)
            return kopf.ConnectionInfo(
                server=config.server,
                ca_path=str(SERVICE_ACCOUNT / "ca.crt"),
                token=config.bearer(),
                scheme="Bearer",
                default_namespace=config.namespace,
            )
        return kopf.login_with_kubeconfig(settings=settings, logger=logger)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: Any, **_: Any) -> None:
        ctl = controller(memo)
        await ctl.close()
        kube: KubeClient = memo["kube"]
        await kube.__aexit__(None, None, None)

    # -- MCPCatalog --------------------------------------------------------------------------

    @kopf.on.event(*CATALOGS, registry=registry)
    async def catalog_event(
        type: str, event: Mapping[str, Any], namespace: str | None, name: str, memo: Any, **_: Any
    ) -> None:
        ctl, ns = controller(memo), namespace or ""
        observed(ctl, kinds.CATALOGS, event)
        if type == "DELETED":
            await _guarded(kinds.CATALOGS, f"catalog {ns}/{name}", reconcile_users(ctl, ns, name))
        else:
            await _guarded(kinds.CATALOGS, f"catalog {ns}/{name}", reconcile_catalog(ctl, ns, name))

    # -- MCPServer ---------------------------------------------------------------------------

    @kopf.on.event(*SERVERS, registry=registry)
    async def server_event(
        type: str,
        event: Mapping[str, Any],
        namespace: str | None,
        name: str,
        labels: Mapping[str, str],
        memo: Any,
        **_: Any,
    ) -> None:
        ctl, ns = controller(memo), namespace or ""
        observed(ctl, kinds.SERVERS, event)
        if type == "DELETED":
            await _guarded(kinds.SERVERS, f"server {ns}/{name}", server_removed(ctl, ns, name))
            return
        await _guarded(kinds.SERVERS, f"server {ns}/{name}", reconcile_server(ctl, ns, name))
        if ctl.labels_changed(ns, name, dict(labels)) and type is not None:  # which gateways select it
            await reconcile_gateways_in(ctl, ns)

    claimed = {LABEL_CLAIMED: kopf.PRESENT, LABEL_SERVER: kopf.PRESENT}

    @kopf.on.event("", "v1", kinds.PODS, labels=claimed, registry=registry)
    async def pool_claimed(
        type: str, event: Mapping[str, Any], labels: Mapping[str, str], namespace: str | None, memo: Any, **_: Any
    ) -> None:
        if type == "MODIFIED":  # a gateway claimed a warm Pod: refill the pool now
            ctl, ns, server = controller(memo), namespace or "", labels[LABEL_SERVER]
            observed(ctl, kinds.PODS, event)  # whichever handler of this event runs first: the refill sees it
            await _guarded(kinds.SERVERS, f"server {ns}/{server}", reconcile_server(ctl, ns, server))

    def keep(plural: str, api_version: str) -> None:
        group, _, version = api_version.rpartition("/")

        @kopf.on.event(group, version, plural, id=f"index-{plural}", registry=registry)
        async def owned_event(type: str, event: Mapping[str, Any], namespace: str | None, memo: Any, **_: Any) -> None:
            """Into the index (the watch asks only for what it keeps); an egress policy deleted by someone else is
            put back by its server's reconcile at once."""
            ctl, ns = controller(memo), namespace or ""
            observed(ctl, plural, event)
            server = server_network.owning_server(dict(event.get("object") or {}))
            if plural == kinds.POLICIES and type == "DELETED" and server is not None:
                await _guarded(kinds.SERVERS, f"server {ns}/{server}", reconcile_server(ctl, ns, server))

    for plural, (api_version, _selector) in kinds.OWNED.items():
        keep(plural, api_version)

    # -- MCPGateway --------------------------------------------------------------------------

    @kopf.on.event(*GATEWAYS, registry=registry)
    async def gateway_event(
        type: str, event: Mapping[str, Any], namespace: str | None, name: str, memo: Any, **_: Any
    ) -> None:
        ctl, ns = controller(memo), namespace or ""
        observed(ctl, kinds.GATEWAYS, event)
        if type != "DELETED":
            await _guarded(kinds.GATEWAYS, f"gateway {ns}/{name}", reconcile_gateway(ctl, ns, name))
