"""Reconciling an MCPGateway: select its MCPServers, render their ConfigMap, and server-side apply the
ServiceAccount, Roles, RoleBindings, ConfigMap, Deployment and Service that make the endpoint."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

from pydantic import ValidationError

from kubemcp.controller import kinds
from kubemcp.controller import mcpgateway_objects as objects
from kubemcp.controller.context import Controller
from kubemcp.controller.mcpgateway_auth import tokens_secret_name
from kubemcp.controller.mcpgateway_files import ServedServer, render_files, select_unique, served_server
from kubemcp.controller.report import differs
from kubemcp.controller.resolve import ResolveError, resolve
from kubemcp.controller.sweeper import sweep
from kubemcp.crd.conditions import Condition, merge_conditions
from kubemcp.crd.gateway_models import MCPGatewaySpec
from kubemcp.crd.models import DEFAULT_SECRET_NAME
from kubemcp.kube.client import ConflictError, ForbiddenError, KubeApiError, NotFoundError, path_for
from kubemcp.kube.pods import LABEL_GATEWAY, LABEL_ROLE
from kubemcp.model.names import dns_label
from kubemcp.runtimes.routing import is_remote
from kubemcp.signing import new_key
from kubemcp.validation import one_line

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
PLURALS = {
    "ServiceAccount": "serviceaccounts",
    "ConfigMap": "configmaps",
    "Service": "services",
    "Deployment": "deployments",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "NetworkPolicy": "networkpolicies",
    "Secret": "secrets",
}


def object_path(body: Obj) -> str:
    metadata = body["metadata"]
    return path_for(body["apiVersion"], PLURALS[body["kind"]], metadata["namespace"], metadata["name"])


async def reconcile_gateway(ctl: Controller, namespace: str, name: str, *, settle: bool = False) -> None:
    """Reconcile one MCPGateway. Asked again while a reconcile of it waits to start, the waiting one will
    see every change made so far: the call returns at once, so a burst of server changes costs one pass.
    `settle` (a pass asked for by server changes): wait as long as its last pass took before starting, so
    that a gateway of many servers, changing all the time, spends at most about half the time in passes."""
    key = (kinds.GATEWAYS, namespace, name)
    if key in ctl.waiting:
        return
    ctl.waiting.add(key)
    started = False
    try:
        if settle:
            await asyncio.sleep(ctl.pass_seconds.get(key, 0.0))
        async with ctl.lock(kinds.GATEWAYS, namespace, name):
            ctl.waiting.discard(key)
            started = True
            began = time.monotonic()
            try:
                await _reconcile(ctl, namespace, name)
            finally:
                ctl.pass_seconds[key] = time.monotonic() - began
    finally:
        if not started:
            ctl.waiting.discard(key)


def selects(gateway: Obj, labels: dict[str, str]) -> bool:
    """Whether a gateway's selector takes an MCPServer with these labels (an invalid spec: yes, to report it)."""
    try:
        spec = MCPGatewaySpec.model_validate(gateway.get("spec") or {})
    except ValidationError:
        return True
    return spec.server_selector is None or spec.server_selector.matches(labels)


async def reconcile_gateways_in(ctl: Controller, namespace: str, labels: dict[str, str] | None = None) -> None:
    """The MCPGateways of a namespace after a change of one of its MCPServers: those selecting it when its
    `labels` are given (they did not change, so neither did which gateways serve it), else every one."""
    try:
        gateways = await ctl.list(kinds.GATEWAYS, namespace)
    except KubeApiError as exc:
        logger.warning("cannot list MCPGateways in %s: %s", namespace, exc)
        return

    async def one(name: str) -> None:
        try:
            await reconcile_gateway(ctl, namespace, name, settle=True)
        except KubeApiError as exc:
            logger.warning("gateway %s/%s: %s (retried by the next pass)", namespace, name, exc)

    chosen = [gateway for gateway in gateways if labels is None or selects(gateway, labels)]
    await asyncio.gather(*(one(kinds.name_of(gateway)) for gateway in chosen))


def watched_namespaces(spec: MCPGatewaySpec, own: str) -> list[str]:
    return list(dict.fromkeys(spec.namespaces or [own]))


async def collect_servers(
    ctl: Controller, spec: MCPGatewaySpec, namespaces: list[str]
) -> tuple[list[ServedServer], list[str]]:
    """The selected MCPServers that resolve, and a line for each one that was left out."""
    served: list[ServedServer] = []
    problems: list[str] = []
    for namespace in namespaces:
        try:
            items = await ctl.list(kinds.SERVERS, namespace)
        except KubeApiError as exc:
            problems.append(f"cannot list MCPServers in {namespace}: {exc.reason or exc.status}")
            continue
        catalogs: dict[str, Obj | None] = {}
        for obj in items:
            if kinds.meta(obj).get("deletionTimestamp"):
                continue
            if spec.server_selector is not None and not spec.server_selector.matches(kinds.labels_of(obj)):
                continue
            try:
                catalog = await ctl.catalog_for(obj, catalogs)
                resolved = resolve(obj, catalog, pull_policy=ctl.options.image_pull_policy)
            except ResolveError as exc:
                problems.append(f"{namespace}/{kinds.name_of(obj)} is not served: {exc.reason}")
                continue
            served.append(served_server(resolved, obj.get("status")))
    return served, problems


async def _current(ctl: Controller, bodies: list[Obj]) -> dict[str, Obj]:
    """What exists now under the names of `bodies`, by path."""
    found = {}
    for body in bodies:
        path, meta = object_path(body), body["metadata"]
        # Present in the index, it exists and is labelled ours; else the API server is asked, which also finds
        # an object of someone else under the name (never taken over).
        known = ctl.index.known(PLURALS[body["kind"]], meta["namespace"], meta["name"])
        if known is not None:
            found[path] = known
            continue
        try:
            found[path] = await ctl.kube.get(path)
        except NotFoundError:
            continue
    return found


# Kinds the API server adds no defaults to, and the fields that must then equal ours exactly (a key we no
# longer set must go too); every other kind is applied on each pass, as the server's defaults would differ.
EXACT = {"ConfigMap": ("data",), "Role": ("rules",), "ServiceAccount": ("automountServiceAccountToken",)}


def unchanged(body: Obj, existing: Obj) -> bool:
    """Whether `existing` is already what applying `body` would make it (then nothing is written)."""
    fields = EXACT.get(body["kind"])
    if fields is None:
        return False
    wanted = {key: body["metadata"][key] for key in ("labels", "ownerReferences") if key in body["metadata"]}
    return not differs(wanted, existing.get("metadata")) and all(body.get(f) == existing.get(f) for f in fields)


def _conflicts(current: dict[str, Obj], bodies: list[Obj], owner_uid: str, labels: dict[str, str]) -> list[str]:
    """Objects that exist under our names but belong to someone else: never taken over."""
    found = []
    for body in bodies:
        existing = current.get(object_path(body))
        if existing is None:
            continue
        ours = kinds.owned_by(existing, owner_uid) or all(
            kinds.labels_of(existing).get(key) == value for key, value in labels.items()
        )
        if not ours:
            found.append(f"{body['kind']} {body['metadata']['namespace']}/{body['metadata']['name']}")
    return found


async def remove_rbac(ctl: Controller, names: objects.Names, namespaces: list[str]) -> None:
    """Roles and RoleBindings in other namespaces (no ownerReference can reach them)."""
    for namespace in namespaces:
        if namespace == names.namespace:
            continue
        for body in (objects.role_binding(names, None, namespace), objects.role(names, None, namespace)):
            try:
                current = await ctl.kube.get(object_path(body))
            except NotFoundError:
                continue
            if kinds.labels_of(current).get(kinds.LABEL_OWNER_NAMESPACE) == names.namespace:
                await ctl.kube.delete(object_path(body))


def remote_secrets(servers: list[ServedServer]) -> dict[str, list[str]]:
    """Per namespace, the Secrets the gateway reads for the remote servers it serves (it connects to them)."""
    found: dict[str, set[str]] = {}
    for server in servers:
        if is_remote(server.entry):
            form = server.entry.kubernetes
            secret = (form.secret_name if form is not None else None) or DEFAULT_SECRET_NAME
            found.setdefault(server.namespace, set()).add(secret)
    return {namespace: sorted(names) for namespace, names in found.items()}


def served_names(servers: list[ServedServer]) -> dict[str, list[str]]:
    """Per namespace, the MCPServers the gateway serves (it reads their status: their recorded discoveries)."""
    found: dict[str, list[str]] = {}
    for server in servers:
        found.setdefault(server.namespace, []).append(server.name)
    return {namespace: sorted(names) for namespace, names in found.items()}


def desired_objects(
    names: objects.Names,
    owner: Obj,
    spec: MCPGatewaySpec,
    namespaces: list[str],
    files: dict[str, str],
    image: str,
    secrets: dict[str, list[str]] | None = None,
    servers: dict[str, list[str]] | None = None,
) -> list[Obj]:
    """Everything the gateway is made of, in the order it is applied (the Roles, which let it read its
    servers' statuses, before the ConfigMap naming them; the Deployment after its ConfigMap)."""
    elsewhere = [ns for ns in namespaces if ns != names.namespace]
    secrets = secrets or {}
    servers = servers or {}
    budget = [objects.disruption_budget(names, owner)] if spec.replicas >= 2 else []
    ingress = [objects.ingress_policy(names, owner, spec)] if spec.allowed_from is not None else []
    port = objects.metrics_port(spec)
    scrape = [objects.metrics_service(names, owner, port)] if port is not None else []
    return [
        objects.service_account(names, owner),
        objects.role(names, owner, secrets=secrets.get(names.namespace), servers=servers.get(names.namespace)),
        objects.role_binding(names, owner),
        *[
            body
            for ns in elsewhere
            for body in (
                objects.role(names, None, ns, secrets.get(ns), servers.get(ns)),
                objects.role_binding(names, None, ns),
            )
        ],
        objects.configmap(names, owner, files),
        objects.deployment(names, owner, spec, image),
        objects.service(names, owner, spec),
        *scrape,
        *budget,
        *ingress,
    ]


async def ensure_replica_key(ctl: Controller, names: objects.Names, owner: Obj) -> None:
    """Create the replicas' key once. Only `create` is needed (and granted): an existing key is kept as it is,
    so sessions stay valid across reconciles and operator restarts; nobody here reads it back."""
    done = ("replica-key", names.namespace, names.gateway, str(owner["uid"]))
    if done in ctl.ensured:
        return
    body = objects.replica_key(names, owner, new_key())
    try:
        await ctl.kube.create(path_for("v1", "secrets", names.namespace), body)
        logger.info("gateway %s/%s: created its replicas' key", names.namespace, names.gateway)
    except ConflictError:
        pass
    ctl.ensured.add(done)


async def ensure_tokens(ctl: Controller, names: objects.Names, owner: Obj) -> None:
    """Create the gateway's tokens Secret once, with a random `default` token (create-only, as the key)."""
    done = ("tokens", names.namespace, names.gateway, str(owner["uid"]))
    if done in ctl.ensured:
        return
    try:
        await ctl.kube.create(
            path_for("v1", "secrets", names.namespace), objects.tokens_secret(names, owner, secrets.token_urlsafe(32))
        )
        logger.info("gateway %s/%s: created its bearer tokens Secret %s", names.namespace, names.gateway, names.tokens)
    except ConflictError:
        pass
    ctl.ensured.add(done)


async def remove_unused(ctl: Controller, names: objects.Names, spec: MCPGatewaySpec) -> None:
    """Objects the spec no longer asks for: a PodDisruptionBudget for one replica (it would block every node
    drain), an ingress policy once `allowedFrom` is gone, the metrics Service once the metrics port is."""
    unused = []
    if objects.metrics_port(spec) is None:
        unused.append(("v1", "services", names.metrics_service))
    if spec.replicas < 2:
        unused.append(("policy/v1", "poddisruptionbudgets", names.disruption_budget))
    if spec.allowed_from is None:
        unused.append(("networking.k8s.io/v1", "networkpolicies", names.ingress_policy))
    for api_version, plural, name in unused:
        path = path_for(api_version, plural, names.namespace, name)
        if ctl.index.synced(plural, names.namespace):
            if ctl.index.get(plural, names.namespace, name) is None:
                continue  # not there (the index holds every one labelled ours)
        else:
            try:
                await ctl.kube.get(path)
            except NotFoundError:
                continue
        await ctl.kube.delete(path)


def _gateway_pods(ctl: Controller, namespace: str, gateway: str) -> list[Obj] | None:
    """The gateway's per-call and resident server Pods from the index (None: not known there, the sweep lists)."""
    pods = ctl.index.labelled(kinds.PODS, namespace, {LABEL_GATEWAY: dns_label(gateway, 63)})
    if pods is None:
        return None
    return [pod for pod in pods if kinds.labels_of(pod).get(LABEL_ROLE) in ("call", "resident")]


def _ready(deployment: Obj, replicas: int) -> Condition:
    status = deployment.get("status") or {}
    if replicas == 0:
        return Condition.false("Ready", "ScaledToZero", "replicas is 0")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("status") == "False":
            return Condition.false("Ready", str(condition.get("reason")), str(condition.get("message", "")))
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return Condition.false("Ready", str(condition.get("reason")), str(condition.get("message", "")))
    available = int(status.get("availableReplicas") or 0)
    if available > 0:
        return Condition.true("Ready", "Available", f"{available}/{replicas} gateway replicas available")
    return Condition.unknown("Ready", "Starting", "waiting for a gateway replica to become available")


async def _reconcile(ctl: Controller, namespace: str, name: str) -> None:
    obj = await ctl.get(kinds.GATEWAYS, namespace, name)
    if obj is None or kinds.meta(obj).get("deletionTimestamp"):
        return
    status: Obj = obj.get("status") or {}
    generation = kinds.generation_of(obj)

    async def report(conditions: list[Condition], **fields: Any) -> None:
        merged = merge_conditions(status.get("conditions"), conditions, generation)
        await ctl.reporter.status(
            kinds.GATEWAYS, obj, {"observedGeneration": generation, "conditions": merged, **fields}
        )

    try:
        spec = MCPGatewaySpec.model_validate(obj.get("spec") or {})
    except ValidationError as exc:
        message = one_line(exc, root="spec")
        await report(
            [Condition.false("Reconciled", "InvalidSpec", message), Condition.false("Ready", "InvalidSpec", message)]
        )
        return
    names = objects.Names(name, namespace)
    owner = kinds.owner_reference(obj)
    namespaces = watched_namespaces(spec, namespace)
    served, problems = await collect_servers(ctl, spec, namespaces)
    chosen, dropped = select_unique(served, namespace)
    problems += [f"{item} is not served: its name is taken" for item in dropped]
    image = spec.image or ctl.options.gateway_image
    files = await asyncio.to_thread(render_files, name, chosen, spec.authorization, spec.options)  # off the loop
    bodies = desired_objects(names, owner, spec, namespaces, files, image, remote_secrets(chosen), served_names(chosen))
    owner_labels = {kinds.LABEL_OWNER_GATEWAY: name, kinds.LABEL_OWNER_NAMESPACE: namespace}
    ctl.rbac_namespaces.update(ns for ns in namespaces if ns != namespace)
    try:
        current = await _current(ctl, bodies)
        conflicts = _conflicts(current, bodies, owner["uid"], owner_labels)
        if conflicts:
            message = "these objects exist and are not this gateway's: " + ", ".join(conflicts)
            await report(
                [
                    Condition.false("Reconciled", "NameConflict", message),
                    Condition.false("Ready", "NameConflict", message),
                ]
            )
            return
        await ensure_replica_key(ctl, names, owner)
        if tokens_secret_name(names, spec) == names.tokens:
            await ensure_tokens(ctl, names, owner)
        applied = {}
        for body in bodies:
            path = object_path(body)
            existing = current.get(path)
            if existing is None or not (unchanged(body, existing) or ctl.applied.still(path, body, existing)):
                existing = await ctl.kube.apply(path, body, manager=kinds.MANAGER)
                ctl.applied.did(path, body, existing)
            applied[(body["kind"], body["metadata"]["namespace"])] = existing
        previous = [ns for ns in status.get("namespaces") or [] if ns not in namespaces]
        await remove_rbac(ctl, names, previous)
        await remove_unused(ctl, names, spec)
    except ForbiddenError as exc:
        await report(
            [Condition.false("Reconciled", "Forbidden", str(exc)), Condition.false("Ready", "Forbidden", str(exc))]
        )
        return
    except KubeApiError as exc:
        await report([Condition.false("Reconciled", "ApplyFailed", str(exc))])
        raise
    for ns in namespaces:
        try:
            await sweep(ctl.kube, ns, f"{LABEL_GATEWAY}={dns_label(name, 63)},{LABEL_ROLE} in (call,resident)",
                        _gateway_pods(ctl, ns, name))  # fmt: skip
        except KubeApiError as exc:
            logger.warning("gateway %s/%s: cannot sweep pods in %s: %s", namespace, name, ns, exc)
    deployment = applied[("Deployment", namespace)]
    conditions = [
        Condition.true("Reconciled", "Applied", f"serving {len(chosen)} server(s)"),
        _ready(deployment, spec.replicas),
        Condition.true("Degraded", "ServersLeftOut", "; ".join(problems))
        if problems
        else Condition.false("Degraded", "AsExpected", ""),
    ]
    await report(
        conditions,
        servers=sorted(server.name for server in chosen),
        namespaces=namespaces,
        endpoint=names.endpoint(spec.port),
        configMap=names.configmap,
        replicas=int((deployment.get("status") or {}).get("replicas") or 0),
    )
