"""The warm pool: `warmPool` started, idle server Pods (role `pool`, the current digest) ready for a gateway
to claim. Claiming relabels a Pod `role=call`, which takes it out of the pool; the next reconcile refills.

Pool Pods are owned by their MCPServer. They are recycled after `MAX_AGE`, and their
`activeDeadlineSeconds` leaves a claimed Pod at least the server's `deadlineSeconds` for its call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubemcp.controller.sweeper import Removal, finished_at, parse_time
from kubemcp.kube.api import KubeApi
from kubemcp.kube.client import KubeApiError, path_for
from kubemcp.kube.pod_status import FATAL_WAITING, container_state
from kubemcp.kube.pods import LABEL_CLAIMED, LABEL_DIGEST, LABEL_ROLE, LABEL_SERVER, server_pod
from kubemcp.model.names import dns_label
from kubemcp.model.spec import ServerSpec
from kubemcp.runtimes.routing import is_remote

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
MAX_AGE = 3600.0


@dataclass
class PoolPlan:
    remove: list[Removal] = field(default_factory=list)
    create: int = 0
    ready: int = 0
    problem: str | None = None


def pool_selector(server: str) -> str:
    return f"{LABEL_SERVER}={dns_label(server, 63)},{LABEL_ROLE}=pool"


def plan_pool(pods: list[Obj], desired: int, digest: str | None, now: datetime | None = None) -> PoolPlan:
    """What to delete and how many to start so that `desired` Pods of `digest` are in the pool."""
    moment = now or datetime.now(UTC)
    plan = PoolPlan()
    live: list[tuple[bool, str, Obj]] = []
    for pod in pods:
        metadata = pod.get("metadata") or {}
        labels = metadata.get("labels") or {}
        if metadata.get("deletionTimestamp") or LABEL_CLAIMED in labels:
            continue
        name = str(metadata.get("name"))
        if digest is None or labels.get(LABEL_DIGEST) != digest:
            plan.remove.append(Removal(name, "its server changed (stale digest)"))
            continue
        if finished_at(pod) is not None:
            plan.remove.append(Removal(name, "it ended"))
            continue
        created = parse_time(metadata.get("creationTimestamp"))
        if created is not None and (moment - created).total_seconds() > MAX_AGE:
            plan.remove.append(Removal(name, "recycled after an hour in the pool"))
            continue
        state, reason, message = container_state(pod)
        if state == "waiting" and reason in FATAL_WAITING and plan.problem is None:
            plan.problem = f"pod {name} cannot start: {reason}: {message}".rstrip(": ")
        live.append((state == "running", str(metadata.get("creationTimestamp", "")), pod))
    # Keep the running ones first, the oldest first among equals.
    live.sort(key=lambda item: (not item[0], item[1]))
    for _running, _created, pod in live[desired:]:
        plan.remove.append(Removal(str(pod["metadata"]["name"]), "the pool is larger than warmPool"))
    kept = live[:desired]
    plan.ready = sum(1 for running, _, _ in kept if running)
    plan.create = max(0, desired - len(kept))
    return plan


async def reconcile_pool(
    kube: KubeApi, spec: ServerSpec | None, server: str, namespace: str, owner: Obj, pods: list[Obj] | None = None
) -> PoolPlan:
    """Bring the pool to `spec`'s warmPool (none when `spec` is None); returns what was planned. `pods`: the
    server's Pods when the caller listed them already (its pool Pods are picked out), else they are listed."""
    if pods is None:
        pods = (await kube.list(path_for("v1", "pods", namespace), label_selector=pool_selector(server))).get(
            "items", []
        )
    pool = [pod for pod in pods if ((pod.get("metadata") or {}).get("labels") or {}).get(LABEL_ROLE) == "pool"]
    desired = spec.form.warm_pool if spec is not None and not is_remote(spec.entry) else 0  # no Pod for a remote one
    plan = plan_pool(pool, desired, spec.digest if spec is not None else None)
    for removal in plan.remove:
        try:
            await kube.delete(path_for("v1", "pods", namespace, removal.name), grace_seconds=0)
            logger.info("warm pool of %s/%s: removed pod %s: %s", namespace, server, removal.name, removal.why)
        except KubeApiError as exc:
            logger.warning("warm pool of %s/%s: cannot remove pod %s: %s", namespace, server, removal.name, exc)
    if spec is not None and desired > 0:
        deadline = int(MAX_AGE) + spec.form.deadline_seconds
        for _ in range(plan.create):
            body = server_pod(spec, "pool", owner=owner, deadline_seconds=deadline)
            created = await kube.create(path_for("v1", "pods", namespace), body)
            logger.info("warm pool of %s/%s: started pod %s", namespace, server, created["metadata"]["name"])
    return plan
