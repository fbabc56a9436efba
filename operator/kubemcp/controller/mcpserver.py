"""Reconciling an MCPServer: resolve its entry, keep its discovery current, its warm pool full, and say so.

Level-based: every pass starts from the object as it is now and does only what is missing, so
running it again (a timer, an event, an operator restart) is harmless.
"""

from __future__ import annotations

import logging
from typing import Any

from kubemcp.controller import kinds, server_namespace, server_network
from kubemcp.controller.context import Controller
from kubemcp.controller.mcpgateway import reconcile_gateways_in
from kubemcp.controller.resolve import Resolved, ResolveError, resolve
from kubemcp.controller.server_discovery import discover, summary
from kubemcp.controller.sweeper import sweep
from kubemcp.controller.warm_pool_pods import PoolPlan, reconcile_pool
from kubemcp.crd.conditions import Condition, merge_conditions
from kubemcp.errors import ServerError
from kubemcp.kube.client import KubeApiError, path_for
from kubemcp.kube.pods import LABEL_ROLE, LABEL_SERVER
from kubemcp.model.names import dns_label

logger = logging.getLogger(__name__)

Obj = dict[str, Any]


async def reconcile_server(ctl: Controller, namespace: str, name: str) -> None:
    async with ctl.lock(kinds.SERVERS, namespace, name):
        changed = await _reconcile(ctl, namespace, name)
    if changed is not None:  # its status changed: the gateways selecting it (by its labels) serve it anew
        # In the background: a server's reconcile (and the pass over every server) does not wait for gateway
        # passes, which a burst of server changes coalesces into one per gateway.
        ctl.spawn(reconcile_gateways_in(ctl, namespace, changed), f"gateways after {namespace}/{name}")


async def server_removed(ctl: Controller, namespace: str, name: str) -> None:
    ctl.discovery.forget((namespace, name))
    ctl.forget(kinds.SERVERS, namespace, name)
    await reconcile_gateways_in(ctl, namespace)


async def _reconcile(ctl: Controller, namespace: str, name: str) -> dict[str, str] | None:
    """Reconcile one MCPServer; its labels when its status changed, else None."""
    obj = await ctl.get(kinds.SERVERS, namespace, name)
    if obj is None or kinds.meta(obj).get("deletionTimestamp"):
        ctl.discovery.forget((namespace, name))
        return None
    status: Obj = obj.get("status") or {}
    owner = kinds.owner_reference(obj)
    pods = await _server_pods(ctl, namespace, name)
    try:
        resolved: Resolved | None = resolve(obj, await ctl.catalog_for(obj), pull_policy=ctl.options.image_pull_policy)
        problem = None
    except ResolveError as exc:
        resolved, problem = None, exc

    conditions: list[Condition] = []
    new_status: Obj = {"observedGeneration": kinds.generation_of(obj)}
    if resolved is None:
        assert problem is not None
        conditions += [
            Condition.false("Resolved", problem.reason, problem.message),
            Condition.false("Ready", problem.reason, problem.message),
            Condition.unknown("Discovered", "NotResolved", "the server's entry does not resolve"),
        ]
        new_status["resolved"] = None
    else:
        conditions.append(Condition.true("Resolved", "Resolved", f"{resolved.what} (digest {resolved.digest})"))
        new_status["resolved"] = {
            "image": resolved.image,
            "digest": resolved.digest,
            "catalog": resolved.catalog,
            "entry": resolved.entry_name,
        }
        status = await _record_unwritten(ctl, obj, resolved, status)
        removed = await _remove_orphaned_discoveries(ctl, namespace, name, pods)
        pods = [pod for pod in pods if pod["metadata"]["name"] not in removed] if pods is not None else None
        discovered = _discovery(ctl, resolved, status, owner)
        conditions.append(discovered)
        if discovered.status == "True":
            conditions.append(Condition.true("Ready", "Ready", discovered.message))
        elif discovered.status == "False":
            conditions.append(Condition.false("Ready", discovered.reason, discovered.message))
        else:
            conditions.append(Condition.unknown("Ready", discovered.reason, discovered.message))

    namespace_problem = None
    try:
        namespace_problem = await server_namespace.secure(ctl, namespace)
    except KubeApiError as exc:
        namespace_problem = f"cannot prepare namespace {namespace} for server Pods: {exc}"
        logger.warning("server %s/%s: %s", namespace, name, namespace_problem)
    if resolved is not None:
        # Its policy as last seen, if known: applied only where it differs.
        policy = ctl.index.known(kinds.POLICIES, namespace, server_network.policy_name(name))
        try:
            network_problem = await server_network.apply_egress(
                ctl.kube, name, namespace, owner, resolved.server.egress, resolved.entry, existing=policy
            )
        except KubeApiError as exc:
            network_problem = f"cannot limit its egress: {exc}"
        if network_problem is not None:
            logger.warning("server %s/%s: %s", namespace, name, network_problem)
            namespace_problem = namespace_problem or network_problem
    pool_problem = None
    try:
        plan = await reconcile_pool(ctl.kube, resolved.spec if resolved else None, name, namespace, owner, pods)
        pool_problem = plan.problem
    except KubeApiError as exc:
        plan, pool_problem = PoolPlan(), f"cannot manage the warm pool: {exc}"
        logger.warning("server %s/%s: %s", namespace, name, pool_problem)
    desired = resolved.server.warm_pool if resolved else 0
    new_status["warmPool"] = {"desired": desired, "ready": plan.ready}
    swept = {"call", "discovery", "resident"}
    try:
        await sweep(
            ctl.kube,
            namespace,
            f"{LABEL_SERVER}={dns_label(name, 63)},{LABEL_ROLE} in ({','.join(sorted(swept))})",
            None if pods is None else [pod for pod in pods if kinds.labels_of(pod).get(LABEL_ROLE) in swept],
        )
    except KubeApiError as exc:
        logger.warning("server %s/%s: cannot sweep its pods: %s", namespace, name, exc)

    failure = ctl.discovery.failure((namespace, name), resolved.digest) if resolved else None
    if failure is not None:
        conditions.append(Condition.true("Degraded", failure.reason, failure.message))
    elif pool_problem is not None:
        conditions.append(Condition.true("Degraded", "WarmPoolFailing", pool_problem))
    elif namespace_problem is not None:
        conditions.append(Condition.true("Degraded", "NamespaceNotRestricted", namespace_problem))
    else:
        conditions.append(Condition.false("Degraded", "AsExpected", ""))
    new_status["conditions"] = merge_conditions(status.get("conditions"), conditions, kinds.generation_of(obj))
    changed = await ctl.reporter.status(kinds.SERVERS, obj, new_status)
    return kinds.labels_of(obj) if changed else None


async def _server_pods(ctl: Controller, namespace: str, name: str) -> list[Obj] | None:
    """Every Pod of the server, from the index or in one request for the whole reconcile (None: each step
    lists its own)."""
    indexed = ctl.index.labelled(kinds.PODS, namespace, {LABEL_SERVER: dns_label(name, 63)})
    if indexed is not None:
        return indexed
    try:
        listed = await ctl.kube.list(
            path_for("v1", "pods", namespace), label_selector=f"{LABEL_SERVER}={dns_label(name, 63)}"
        )
    except KubeApiError as exc:
        logger.warning("server %s/%s: cannot list its pods: %s", namespace, name, exc)
        return None
    items: list[Obj] = listed.get("items", [])
    return items


async def _remove_orphaned_discoveries(ctl: Controller, namespace: str, name: str, pods: list[Obj] | None) -> set[str]:
    """Discovery Pods that no discovery of this process uses (an operator that stopped mid-way left them);
    returns the names of those removed."""
    removed: set[str] = set()
    if ctl.discovery.busy((namespace, name)):
        return removed
    selector = f"{LABEL_SERVER}={dns_label(name, 63)},{LABEL_ROLE}=discovery"
    try:
        if pods is None:
            pods = (await ctl.kube.list(path_for("v1", "pods", namespace), label_selector=selector)).get("items", [])
        for pod in pods:
            if pod["metadata"].get("labels", {}).get(LABEL_ROLE) != "discovery":
                continue
            if not pod["metadata"].get("deletionTimestamp"):
                await ctl.kube.delete(path_for("v1", "pods", namespace, pod["metadata"]["name"]), grace_seconds=0)
                removed.add(pod["metadata"]["name"])
                logger.info("server %s/%s: removed orphaned discovery pod %s", namespace, name, pod["metadata"]["name"])
    except KubeApiError as exc:
        logger.warning("server %s/%s: cannot remove orphaned discovery pods: %s", namespace, name, exc)
    return removed


def _discovery(ctl: Controller, resolved: Resolved, status: Obj, owner: Obj) -> Condition:
    """The Discovered condition; starts a discovery when the recorded one is for another digest."""
    key, digest = (resolved.namespace, resolved.name), resolved.digest
    recorded = status.get("discovery") or {}
    if recorded.get("digest") == digest:
        return Condition.true("Discovered", "Discovered", summary(recorded))
    failure = ctl.discovery.failure(key, digest)
    if ctl.discovery.due(key, digest):

        async def work() -> None:
            await _run_discovery(ctl, resolved, owner)

        ctl.discovery.start(key, digest, work)
    if failure is not None:
        return Condition.false(
            "Discovered", failure.reason, f"{failure.message} (attempt {failure.attempts}; retried with backoff)"
        )
    return Condition.unknown("Discovered", "Discovering", f"running the server once to list its tools ({digest})")


async def _run_discovery(ctl: Controller, resolved: Resolved, owner: Obj) -> None:
    key, digest = (resolved.namespace, resolved.name), resolved.digest
    logger.info("discovering %s/%s (digest %s)", resolved.namespace, resolved.name, digest)
    try:
        found = await discover(
            ctl.kube,
            resolved.spec,
            owner,
            limit=ctl.options.discovery_timeout,
            start_timeout=ctl.options.start_timeout,
        )
    except (ServerError, KubeApiError) as exc:
        failure = ctl.discovery.failed(key, digest, str(exc))
        logger.warning("discovery of %s/%s failed (attempt %d): %s", *key, failure.attempts, exc)
    else:
        ctl.discovery.succeeded(key)
        logger.info("discovered %s/%s: %s", *key, summary(found))
        ctl.discovery.unwritten[key] = found  # kept until recorded: an API that does not answer loses nothing
        try:
            async with ctl.lock(kinds.SERVERS, *key):
                obj = await ctl.get(kinds.SERVERS, *key)
                if obj is None or ((obj.get("status") or {}).get("resolved") or {}).get("digest") != digest:
                    return  # not resolved to this digest (yet): the next pass records it, or discovers anew
                await ctl.reporter.status(kinds.SERVERS, obj, {"discovery": found})
                ctl.discovery.unwritten.pop(key, None)
        except KubeApiError as exc:
            logger.warning("discovery of %s/%s not recorded yet (the next pass does): %s", *key, exc)
            return
    try:
        await reconcile_server(ctl, *key)
    except KubeApiError as exc:
        logger.warning("server %s/%s: %s (retried by the next pass)", *key, exc)


async def _record_unwritten(ctl: Controller, obj: Obj, resolved: Resolved, status: Obj) -> Obj:
    """A discovery of this digest that was made but not recorded (the API did not answer): record it now."""
    key = (resolved.namespace, resolved.name)
    kept = ctl.discovery.unwritten.get(key)
    if (
        kept is None
        or kept.get("digest") != resolved.digest
        or (status.get("discovery") or {}).get("digest") == resolved.digest
    ):
        return status
    await ctl.reporter.status(kinds.SERVERS, obj, {"discovery": kept})
    ctl.discovery.unwritten.pop(key, None)
    return {**status, "discovery": kept}
