"""The Kubernetes runtime: each backend server instance is a Pod (or a Job's Pod) reached through
`pods/attach`, speaking MCP on the unmodified image's stdio.

Why attach rather than an in-pod bridge: the server image runs unmodified (no sidecar, no bridge
binary baked in, no port opened in the Pod), the API server already authenticates and authorizes
the stream (`pods/attach` RBAC), and with `stdinOnce` closing stdin ends the server cleanly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio

from kubemcp.errors import ServerUnavailableError
from kubemcp.kube.api import AttachedStreams, KubePodApi
from kubemcp.kube.client import ConflictError, KubeApiError, path_for
from kubemcp.kube.pod_status import FATAL_WAITING, container_state
from kubemcp.kube.pods import (
    CONTAINER,
    LABEL_CLAIMED,
    LABEL_DIGEST,
    LABEL_ROLE,
    LABEL_SERVER,
    SERVER_SERVICE_ACCOUNT,
    server_job,
    server_pod,
)
from kubemcp.model.link import BackendLink, jsonrpc_streams
from kubemcp.model.names import dns_label
from kubemcp.model.spec import ServerSpec
from kubemcp.runtimes.kubernetes_removals import Removals
from kubemcp.telemetry import calls, tracing

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
Cleanup = Callable[[], Awaitable[None]]


# A Pod that ends for one of these reasons before it ran was lost with its node (or evicted from it).
LOST_REASONS = {"Evicted", "NodeLost", "Terminated", "NodeShutdown", "UnexpectedAdmissionError"}
LOST_POD_ATTEMPTS = 3
# How long a server whose stream ended is watched for the kubelet to report how its container ended.
DESCRIBE_SECONDS = 5.0


class _PodLost(Exception):
    """The Pod went away before its server ran: another Pod may be tried."""


class KubernetesRuntime:
    name = "kubernetes"

    def __init__(
        self,
        kube: KubePodApi,
        namespace: str,
        *,
        gateway: str | None = None,
        owner: Obj | None = None,
        pull_policy: str | None = None,
        start_timeout: float = 120.0,
        role: str = "call",
    ) -> None:
        self.kube = kube
        self.role = role
        self.namespace = namespace
        self.gateway = gateway
        self.owner = owner
        self.pull_policy = pull_policy
        self.start_timeout = start_timeout
        self.claimant = dns_label(f"{gateway or 'kubemcp'}-{id(self):x}", 63)
        # Pods and Jobs the API server could not remove when their call ended, retried while `removals.running()`.
        self.removals = Removals(kube)

    async def _started_pod(self, spec: ServerSpec, namespace: str) -> tuple[str, Cleanup]:
        """A running Pod for `spec`. A Pod lost before it ran (evicted, its node gone, deleted) is replaced:
        nothing had reached the server yet, so trying a fresh Pod is safe."""
        for attempt in range(1, LOST_POD_ATTEMPTS + 1):
            pod, cleanup, known = await self._acquire(spec, namespace)
            try:
                await self._wait_running(spec, namespace, pod, known)
                return pod, cleanup
            except _PodLost as exc:
                with anyio.CancelScope(shield=True), suppress(KubeApiError):
                    await cleanup()
                if attempt == LOST_POD_ATTEMPTS:
                    raise ServerUnavailableError(spec.name, str(exc)) from exc
                logger.warning("server %s: %s; starting another", spec.name, exc)
            except KubeApiError as exc:
                with anyio.CancelScope(shield=True), suppress(KubeApiError):
                    await cleanup()
                raise ServerUnavailableError(spec.name, f"waiting for pod {pod} to start: {exc}") from exc
            except BaseException:
                with anyio.CancelScope(shield=True), suppress(KubeApiError):
                    await cleanup()
                raise
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def connect(self, spec: ServerSpec) -> AsyncIterator[BackendLink]:
        namespace = spec.form.namespace or self.namespace
        started = time.perf_counter()
        pod, cleanup = await self._started_pod(spec, namespace)
        calls.mark("running")
        try:
            logger.debug(
                "server %s: pod %s running after %.0f ms", spec.name, pod, (time.perf_counter() - started) * 1000
            )
            try:
                with tracing.span("kubemcp.attach", {"kubemcp.server": spec.name, "kubemcp.pod": pod}):
                    attach = self.kube.attach(namespace, pod, CONTAINER)
                    stream = await attach.__aenter__()
            except KubeApiError as exc:
                raise ServerUnavailableError(spec.name, f"cannot attach to pod {pod}: {exc}") from exc
            calls.mark("attached")
            try:

                async def describe() -> str:
                    return await self._describe(namespace, pod, stream)

                async with jsonrpc_streams(stream.stdout, stream.stdin) as streams:
                    yield BackendLink(streams=streams, describe_exit=describe, instance=f"pod {pod}")
                with suppress(Exception):
                    await stream.close_stdin()
            finally:
                await attach.__aexit__(None, None, None)
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await cleanup()
                except KubeApiError as exc:
                    logger.warning("server %s: could not remove pod %s: %s", spec.name, pod, exc)

    # -- getting a Pod -----------------------------------------------------------------------

    async def _acquire(self, spec: ServerSpec, namespace: str) -> tuple[str, Cleanup, Obj]:
        """A Pod for `spec`: its name, how to remove it, and the object as last seen (a watch starts from it)."""
        form = spec.form
        # An ownerReference cannot cross namespaces: Pods in another namespace are not owned by the gateway
        # (the deadline and the operator's sweeper still remove them).
        owner = self.owner if namespace == self.namespace else None
        # Only a per-call Pod has a deadline: a long-lived or per-session one runs until it is idle.
        deadline = form.deadline_seconds if spec.lifecycle.has_deadline else None
        try:
            if form.warm_pool > 0 and self.role == "call":
                claimed = await self.claim_warm(spec, namespace)
                if claimed is not None:
                    calls.mark("claimed")
                    name = claimed["metadata"]["name"]
                    return name, self._pod_remover(namespace, name), claimed
                logger.info("server %s: warm pool empty, starting a cold pod", spec.name)
            if form.per_call_kind == "Job" and self.role == "call" and not spec.lifecycle.resident:
                job = await self.kube.create(
                    path_for("batch/v1", "jobs", namespace),
                    server_job(spec, gateway=self.gateway, owner=owner, pull_policy=self.pull_policy),
                )
                job_name = job["metadata"]["name"]

                async def remove_job() -> None:
                    await self.removals.remove(path_for("batch/v1", "jobs", namespace, job_name), f"job {job_name}")

                calls.mark("created")
                try:
                    pod_of_job = await self._pod_of_job(spec, namespace, job_name)
                    calls.mark("pod_created")
                    return pod_of_job["metadata"]["name"], remove_job, pod_of_job
                except BaseException:
                    with anyio.CancelScope(shield=True), suppress(KubeApiError):
                        await remove_job()
                    raise
            role = spec.lifecycle.pod_role if self.role == "call" else self.role
            pod = await self.kube.create(
                path_for("v1", "pods", namespace),
                server_pod(
                    spec,
                    role,
                    gateway=self.gateway,
                    owner=owner,
                    pull_policy=self.pull_policy,
                    deadline_seconds=deadline,
                    deadline=deadline is not None,
                ),
            )
        except KubeApiError as exc:
            raise ServerUnavailableError(spec.name, f"cannot create its pod: {exc}{_hint(exc, namespace)}") from exc
        calls.mark("created")
        name = pod["metadata"]["name"]
        return name, self._pod_remover(namespace, name), pod

    def _pod_remover(self, namespace: str, name: str) -> Cleanup:
        async def remove() -> None:
            await self.removals.remove(path_for("v1", "pods", namespace, name), f"pod {name}")

        return remove

    async def claim_warm(self, spec: ServerSpec, namespace: str) -> Obj | None:
        """Take one Running pre-started Pod of this server and digest, if any (the claimed Pod as patched);
        losers of a race try the next."""
        selector = (
            f"{LABEL_SERVER}={dns_label(spec.name, 63)},{LABEL_ROLE}=pool,{LABEL_DIGEST}={spec.digest},!{LABEL_CLAIMED}"
        )
        pods = await self.kube.list(
            path_for("v1", "pods", namespace), label_selector=selector, field_selector="status.phase=Running"
        )
        for pod in pods.get("items", []):
            if pod["metadata"].get("deletionTimestamp") or container_state(pod)[0] != "running":
                continue
            patch = {
                "metadata": {
                    "resourceVersion": pod["metadata"]["resourceVersion"],
                    "labels": {LABEL_ROLE: "call", LABEL_CLAIMED: self.claimant},
                }
            }
            try:
                return await self.kube.patch(path_for("v1", "pods", namespace, pod["metadata"]["name"]), patch)
            except ConflictError:
                continue
        return None

    async def _pod_of_job(self, spec: ServerSpec, namespace: str, job: str) -> Obj:
        """The Pod the Job controller made for `job`, as first seen."""
        with anyio.move_on_after(self.start_timeout):
            while True:
                pods = await self.kube.list(path_for("v1", "pods", namespace), label_selector=f"job-name={job}")
                for pod in pods.get("items", []):
                    return dict(pod)
                listed = pods.get("metadata", {}).get("resourceVersion")
                async for _event in self.kube.watch(
                    path_for("v1", "pods", namespace),
                    label_selector=f"job-name={job}",
                    resource_version=listed,
                    timeout_seconds=10,
                ):
                    break
        raise ServerUnavailableError(spec.name, f"job {job} created no pod within {self.start_timeout:.0f}s")

    async def _wait_running(self, spec: ServerSpec, namespace: str, pod: str, known: Obj) -> None:
        """Watch the Pod from `known` (the object its create, claim or list returned: no read before the
        watch) until its server container runs."""
        path = path_for("v1", "pods", namespace)
        with anyio.move_on_after(self.start_timeout):
            current = known
            while True:
                if self._ready_or_raise(spec, current):
                    return
                async for event in self.kube.watch(
                    path,
                    field_selector=f"metadata.name={pod}",
                    resource_version=current["metadata"]["resourceVersion"],
                    timeout_seconds=30,
                ):
                    if event.get("type") in {"ADDED", "MODIFIED"}:
                        current = event["object"]
                        if self._ready_or_raise(spec, current):
                            return
                    elif event.get("type") == "DELETED":
                        raise _PodLost(f"pod {pod} was deleted before it started")
                    elif event.get("type") == "ERROR":
                        break
                current = await self.kube.get(path_for("v1", "pods", namespace, pod))
        raise ServerUnavailableError(spec.name, f"pod {pod} did not start within {self.start_timeout:.0f}s")

    @staticmethod
    def _ready_or_raise(spec: ServerSpec, pod: Obj) -> bool:
        name = pod["metadata"]["name"]
        phase = pod.get("status", {}).get("phase")
        state, reason, message = container_state(pod)
        if _condition(pod, "PodScheduled"):
            calls.mark("scheduled")
        if _condition(pod, "PodReadyToStartContainers"):
            calls.mark("sandbox")
        if state == "running":
            return True
        if state == "waiting" and reason in FATAL_WAITING:
            raise ServerUnavailableError(spec.name, f"pod {name} cannot start: {reason}: {message}".rstrip(": "))
        if state == "terminated" or phase in {"Succeeded", "Failed"}:
            detail = reason or pod.get("status", {}).get("reason", phase)
            text = f"pod {name} ended before the call: {detail} {message}".strip()
            if pod.get("status", {}).get("reason") in LOST_REASONS:
                raise _PodLost(text)
            raise ServerUnavailableError(spec.name, text)
        if pod.get("metadata", {}).get("deletionTimestamp"):
            raise _PodLost(f"pod {name} is being removed before it started (its node may be gone)")
        return False

    async def _describe(self, namespace: str, pod: str, stream: AttachedStreams) -> str:
        """Why the server's stream ended: how its container ended (waiting a little for the kubelet to
        report it), or that the stream was cut while the container still ran."""
        parts = [stream.describe()]
        state = ""
        with anyio.move_on_after(DESCRIBE_SECONDS):
            while True:
                try:
                    current = await self.kube.get(path_for("v1", "pods", namespace, pod))
                except KubeApiError as exc:
                    parts.append(f"the state of pod {pod} is unknown: {exc}")
                    break
                state, reason, message = container_state(current)
                if state == "terminated":
                    parts.insert(0, _ended(pod, current, reason, message))
                    break
                await anyio.sleep(0.25)
        if state == "running":
            parts.insert(0, f"the attach stream to pod {pod} was cut while its server still ran")
        return "; ".join(part for part in parts if part)


def _ended(name: str, pod: Obj, reason: str, message: str) -> str:
    """How the server container ended; an OOMKilled one with the memory limit it went beyond (its last
    output, the kubelet's message then, is only protocol)."""
    if not reason.startswith("OOMKilled"):
        return f"pod {name} {reason} {message}".strip()
    limits = [
        (c.get("resources") or {}).get("limits", {}).get("memory")
        for c in pod.get("spec", {}).get("containers", [])
        if c.get("name") == CONTAINER
    ]
    limit = f" of {limits[0]}" if limits and limits[0] else ""
    return f"pod {name} {reason}: out of memory, the server went beyond its memory limit{limit}"


def _condition(pod: Obj, kind: str) -> bool:
    """The Pod's condition `kind` is True: `PodScheduled` (bound to a node), `PodReadyToStartContainers`
    (the kubelet made its sandbox: network and runtime ready)."""
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _hint(exc: KubeApiError, namespace: str) -> str:
    """What to do when the namespace lacks the servers' service account (the operator makes it)."""
    text = str(exc)
    if f'serviceaccount "{SERVER_SERVICE_ACCOUNT}" not found' not in text:
        return ""
    return (
        f"; the operator creates it in the namespaces it manages; without the operator run: "
        f"kubectl create serviceaccount {SERVER_SERVICE_ACCOUNT} -n {namespace}"
    )
