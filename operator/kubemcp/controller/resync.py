"""The periodic pass over every resource: what makes the operator level-based whatever events it missed.

Every `interval` seconds each MCPServer and MCPGateway is reconciled (MCPCatalogs every third pass),
and Roles an MCPGateway made in other namespaces are removed once that MCPGateway is gone. This is
a plain task rather than kopf timers, which would put a finalizer on every resource and so block
its deletion whenever the operator is not running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from kubemcp.controller import kinds
from kubemcp.controller.context import Controller
from kubemcp.controller.mcpcatalog import reconcile_catalog
from kubemcp.controller.mcpgateway import reconcile_gateway
from kubemcp.controller.mcpserver import reconcile_server
from kubemcp.controller.metrics import RESYNC_SECONDS, reconciled
from kubemcp.kube.client import KubeApiError, NotFoundError, path_for

logger = logging.getLogger(__name__)

PARALLEL = 8
RBAC = "rbac.authorization.k8s.io/v1"


def scopes(ctl: Controller) -> list[str | None]:
    """The namespaces to list in (None: the whole cluster)."""
    return [None] if ctl.options.all_namespaces else list(ctl.options.namespaces)


async def _each(ctl: Controller, plural: str, work: Callable[[Controller, str, str], Awaitable[None]]) -> None:
    limit = asyncio.Semaphore(PARALLEL)

    async def one(namespace: str, name: str) -> None:
        async with limit:
            try:
                await reconciled(kinds.KIND_OF[plural], "resync", work(ctl, namespace, name))
            except KubeApiError as exc:
                logger.warning("%s %s/%s: %s (retried by the next pass)", kinds.KIND_OF[plural], namespace, name, exc)

    jobs = []
    for scope in scopes(ctl):
        try:
            items = await ctl.relist(plural, scope)  # and the index is made good from it
        except KubeApiError as exc:
            logger.warning("cannot list %s in %s: %s", plural, scope or "the cluster", exc)
            continue
        jobs += [one(kinds.namespace_of(item), kinds.name_of(item)) for item in items]
    await asyncio.gather(*jobs)


async def remove_orphaned_rbac(ctl: Controller) -> None:
    """Roles and RoleBindings in other namespaces whose MCPGateway no longer exists."""
    selector = f"{kinds.LABEL_OWNER_GATEWAY},{kinds.LABEL_MANAGED_BY}=kubemcp"
    gateways: dict[tuple[str, str], bool] = {}
    where = scopes(ctl)
    if None not in where:
        where = list(dict.fromkeys([*where, *sorted(ctl.rbac_namespaces)]))
    for scope in where:
        for plural in ("rolebindings", "roles"):
            try:
                listed = await ctl.kube.list(path_for(RBAC, plural, scope), label_selector=selector)
            except KubeApiError as exc:
                logger.debug("cannot list %s in %s: %s", plural, scope or "the cluster", exc)
                continue
            for item in listed.get("items", []):
                meta = kinds.meta(item)
                if meta.get("ownerReferences"):
                    continue  # in the gateway's own namespace: garbage-collected with it
                labels = meta.get("labels") or {}
                key = (labels.get(kinds.LABEL_OWNER_NAMESPACE, ""), labels.get(kinds.LABEL_OWNER_GATEWAY, ""))
                if not all(key):
                    continue
                if key not in gateways:
                    gateways[key] = await ctl.get(kinds.GATEWAYS, *key) is not None
                if not gateways[key]:
                    try:
                        await ctl.kube.delete(path_for(RBAC, plural, meta["namespace"], meta["name"]))
                        logger.info("removed %s %s/%s of the deleted gateway %s/%s", plural, *_where(meta), *key)
                    except NotFoundError:
                        pass


def _where(meta: dict[str, str]) -> tuple[str, str]:
    return meta["namespace"], meta["name"]


async def relist_owned(ctl: Controller) -> None:
    """The kinds not ours that the index keeps (one LIST of each per scope): a pass reads a server's Pods, its
    egress policy and a gateway's objects from memory."""
    for plural, (api_version, selector) in kinds.OWNED.items():
        for scope in scopes(ctl):
            try:
                listed = await ctl.kube.list(path_for(api_version, plural, scope), label_selector=selector)
            except KubeApiError as exc:
                logger.warning("cannot list %s in %s: %s", plural, scope or "the cluster", exc)
                continue
            version = str((listed.get("metadata") or {}).get("resourceVersion") or "")
            ctl.index.replace(plural, scope, listed.get("items", []), version)


async def resync_once(ctl: Controller, *, catalogs: bool = True) -> None:
    await relist_owned(ctl)
    if catalogs:
        await _each(ctl, kinds.CATALOGS, reconcile_catalog)
    await _each(ctl, kinds.SERVERS, reconcile_server)
    await _each(ctl, kinds.GATEWAYS, reconcile_gateway)
    await remove_orphaned_rbac(ctl)


async def prime(ctl: Controller) -> None:
    """Fill the index before the first pass, so that the first events' reconciles read it already."""
    for plural in (kinds.CATALOGS, kinds.SERVERS, kinds.GATEWAYS):
        for scope in scopes(ctl):
            try:
                await ctl.relist(plural, scope)
            except KubeApiError as exc:  # the index waits for the first pass; until then the API is asked
                logger.warning("cannot list %s in %s: %s", plural, scope or "the cluster", exc)
    await relist_owned(ctl)


async def resync_forever(ctl: Controller) -> None:
    try:
        await prime(ctl)
    except Exception:  # the passes fill the index instead
        logger.exception("filling the index failed")
    passes = 0
    while True:
        await asyncio.sleep(ctl.options.interval)
        try:
            with RESYNC_SECONDS.time():
                await resync_once(ctl, catalogs=passes % 3 == 0)
        except Exception:  # one bad pass must not end the loop
            logger.exception("reconcile pass failed")
        passes += 1
