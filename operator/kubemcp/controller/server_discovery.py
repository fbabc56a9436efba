"""Tool discovery: run a server once (a `role=discovery` Pod owned by its MCPServer), list everything it
offers, and hand the result back for `status.discovery`; a remote server is connected to instead (its
secrets and OAuth token from the MCPServer's Kubernetes Secret). Failures are retried with backoff.

Discovery runs in background tasks (one per MCPServer at most), so reconciling stays quick; a
changed digest cancels a discovery of the old one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from kubemcp.backend.offerings import Offerings, list_offerings
from kubemcp.backend.pool import BackendPool
from kubemcp.crd.conditions import now_rfc3339
from kubemcp.errors import ServerError
from kubemcp.kube.api import KubePodApi
from kubemcp.kube.pod_status import FATAL_WAITING
from kubemcp.model.lifecycle import Lifecycle
from kubemcp.model.runtime import Runtime
from kubemcp.model.spec import ServerSpec
from kubemcp.runtimes.kubernetes_pods import KubernetesRuntime
from kubemcp.runtimes.routing import is_remote, kube_remote

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, str]
FIRST_RETRY = 10.0
MAX_RETRY = 300.0


class DiscoveryRuntime(KubernetesRuntime):
    """The Kubernetes runtime, starting a fresh `role=discovery` Pod owned by the MCPServer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, role="discovery", **kwargs)


def once(spec: ServerSpec) -> ServerSpec:
    """The same server (same digest) run as a single per-call Pod, whatever its lifecycle and pool."""
    form = spec.form.model_copy(update={"lifecycle": Lifecycle.PER_CALL, "warm_pool": 0, "per_call_kind": "Pod"})
    entry = spec.entry.model_copy(update={"kubernetes": form, "warm": None})
    return dataclasses.replace(spec, lifecycle=Lifecycle.PER_CALL, entry=entry)


def discovery_status(found: Offerings, digest: str, when: str | None = None) -> Obj:
    def dump(items: list[Any]) -> list[Obj]:
        return [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in items]

    status: Obj = {
        "digest": digest,
        "discoveredAt": when or now_rfc3339(),
        "tools": dump(found.tools),
        "prompts": dump(found.prompts),
        "resources": dump(found.resources),
        "resourceTemplates": dump(found.resource_templates),
    }
    if found.capabilities is not None:
        status["capabilities"] = found.capabilities.model_dump(mode="json", by_alias=True, exclude_none=True)
    return status


def summary(discovery: Obj) -> str:
    counts = [(len(discovery.get(key) or []), word) for key, word in (("tools", "tool"), ("prompts", "prompt"))]
    counts.append((len(discovery.get("resources") or []) + len(discovery.get("resourceTemplates") or []), "resource"))
    return ", ".join(f"{count} {word}{'' if count == 1 else 's'}" for count, word in counts)


def failure_reason(message: str) -> str:
    """A condition reason for a failed discovery: the Pod's waiting reason when it names one."""
    for reason in sorted(FATAL_WAITING):
        if reason in message:
            return reason
    if "did not start within" in message or "did not finish within" in message:
        return "Timeout"
    return "DiscoveryFailed"


async def discover(
    kube: KubePodApi, spec: ServerSpec, owner: Obj, *, limit: float = 180.0, start_timeout: float = 120.0
) -> Obj:
    """Run the server once and return its `status.discovery`; raises `ServerError` naming the cause."""
    namespace = spec.form.namespace or "default"
    runtime: Runtime = DiscoveryRuntime(kube, namespace, owner=owner, start_timeout=start_timeout)
    if is_remote(spec.entry):
        runtime = kube_remote(kube, namespace)
    pool = BackendPool(runtime, call_timeout=min(60.0, limit))
    found: Offerings | None = None
    problem: ServerError | None = None
    async with pool.running():  # errors are kept and raised outside: its task group would wrap them
        try:
            with anyio.fail_after(limit):
                found = await pool.call(once(spec), list_offerings)
        except TimeoutError:
            problem = ServerError(spec.name, f"discovery did not finish within {limit:.0f}s")
        except ServerError as exc:
            problem = exc
    if problem is not None:
        raise problem
    assert found is not None
    return discovery_status(found, spec.digest)


@dataclass
class Failure:
    digest: str
    attempts: int
    retry_at: float
    reason: str
    message: str


class DiscoveryTasks:
    """At most one discovery per MCPServer, with the last failure per digest for backoff."""

    def __init__(self) -> None:
        self.running: dict[Key, tuple[str, asyncio.Task[None]]] = {}
        self.failures: dict[Key, Failure] = {}
        self.unwritten: dict[Key, Obj] = {}  # results not recorded yet (the API did not answer): written next pass

    def busy(self, key: Key) -> bool:
        """Whether a discovery of this server, of any digest, is running in this process."""
        current = self.running.get(key)
        return current is not None and not current[1].done()

    def is_running(self, key: Key, digest: str) -> bool:
        current = self.running.get(key)
        return current is not None and current[0] == digest and not current[1].done()

    def failure(self, key: Key, digest: str) -> Failure | None:
        failed = self.failures.get(key)
        return failed if failed is not None and failed.digest == digest else None

    def due(self, key: Key, digest: str) -> bool:
        failed = self.failure(key, digest)
        return not self.is_running(key, digest) and (failed is None or time.monotonic() >= failed.retry_at)

    def start(self, key: Key, digest: str, work: Callable[[], Awaitable[None]]) -> None:
        current = self.running.get(key)
        if current is not None and not current[1].done():
            current[1].cancel()  # an older digest: its result would be stale

        async def run() -> None:
            try:
                await work()
            finally:
                if self.running.get(key, (None, None))[1] is asyncio.current_task():
                    del self.running[key]

        self.running[key] = (digest, asyncio.create_task(run(), name=f"discovery {key[0]}/{key[1]}"))

    def failed(self, key: Key, digest: str, message: str) -> Failure:
        previous = self.failure(key, digest)
        attempts = previous.attempts + 1 if previous is not None else 1
        delay = min(MAX_RETRY, FIRST_RETRY * 2 ** (attempts - 1))
        failure = Failure(digest, attempts, time.monotonic() + delay, failure_reason(message), message)
        self.failures[key] = failure
        return failure

    def succeeded(self, key: Key) -> None:
        self.failures.pop(key, None)

    def forget(self, key: Key) -> None:
        current = self.running.pop(key, None)
        if current is not None:
            current[1].cancel()
        self.failures.pop(key, None)
        self.unwritten.pop(key, None)

    async def close(self) -> None:
        tasks = [task for _, task in self.running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.running.clear()
