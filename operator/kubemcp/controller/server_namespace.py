"""What every namespace holding server Pods gets: the servers' ServiceAccount (no rights, no token), a
NetworkPolicy that lets nothing reach a server Pod (the gateway talks to it through `pods/attach`,
not the Pod network), and Pod Security `restricted` enforced when the namespace sets no level."""

from __future__ import annotations

import logging
import time
from typing import Any

from kubemcp.controller import kinds
from kubemcp.controller.context import Controller
from kubemcp.kube.client import KubeApiError, path_for
from kubemcp.kube.pods import SERVER_SERVICE_ACCOUNT

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
NO_INGRESS = "kubemcp-servers-no-ingress"
ENFORCE = "pod-security.kubernetes.io/enforce"
SERVER_PODS = {"app.kubernetes.io/managed-by": "kubemcp", "app.kubernetes.io/component": "mcp-server"}
LABELS = {kinds.LABEL_MANAGED_BY: "kubemcp"}


def service_account(namespace: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": SERVER_SERVICE_ACCOUNT, "namespace": namespace, "labels": LABELS},
        "automountServiceAccountToken": False,
    }


def no_ingress(namespace: str) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": NO_INGRESS, "namespace": namespace, "labels": LABELS},
        "spec": {"podSelector": {"matchLabels": SERVER_PODS}, "policyTypes": ["Ingress"]},
    }


async def secure(ctl: Controller, namespace: str) -> str | None:
    """Level-based, once per namespace per resync interval (not once per server: a namespace holds many);
    returns a problem to report (the namespace enforces a weaker Pod Security level)."""
    async with ctl.lock("namespaces", "", namespace):  # servers asking at once wait for one check, not one each
        checked = ctl.secured.get(namespace)
        if checked is not None and time.monotonic() - checked[0] < ctl.options.interval:
            return checked[1]
        problem = await _secure(ctl, namespace)
        ctl.secured[namespace] = (time.monotonic(), problem)
        return problem


async def _secure(ctl: Controller, namespace: str) -> str | None:
    await ctl.kube.apply(
        path_for("v1", "serviceaccounts", namespace, SERVER_SERVICE_ACCOUNT),
        service_account(namespace),
        manager=kinds.MANAGER,
    )
    await ctl.kube.apply(
        path_for("networking.k8s.io/v1", "networkpolicies", namespace, NO_INGRESS),
        no_ingress(namespace),
        manager=kinds.MANAGER,
    )
    try:
        found = await ctl.kube.get(path_for("v1", "namespaces", None, namespace))
    except KubeApiError as exc:
        logger.debug("cannot read namespace %s: %s", namespace, exc)
        return None
    level = (found.get("metadata", {}).get("labels") or {}).get(ENFORCE)
    if level is None:
        await ctl.kube.patch(
            path_for("v1", "namespaces", None, namespace),
            {"metadata": {"labels": {ENFORCE: "restricted", f"{ENFORCE}-version": "latest"}}},
        )
        logger.info("namespace %s holds MCP servers: it now enforces Pod Security 'restricted'", namespace)
        return None
    if level != "restricted":
        return f"namespace {namespace} enforces Pod Security {level!r}, not 'restricted' (left as it is)"
    return None
