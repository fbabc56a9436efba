"""How the runtime gets a running Pod: the API requests it makes and the start phases it marks, through a
fake of its typed API boundary (`KubePodApi`); the real API server is in test_kubernetes_pods_cluster.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from kubemcp.kube.api import AttachedStreams
from kubemcp.model.entry import CatalogEntry, CatalogSource
from kubemcp.model.spec import build_spec
from kubemcp.runtimes.kubernetes_pods import KubernetesRuntime
from kubemcp.telemetry import calls

pytestmark = pytest.mark.anyio
SOURCE = CatalogSource(path="c", line=1, directory=".")
Obj = dict[str, Any]


def _pod(name: str, rv: str, *conditions: str, running: bool = False, **labels: str) -> Obj:
    state: Obj = {"running": {}} if running else {"waiting": {"reason": "ContainerCreating"}}
    return {
        "metadata": {"name": name, "resourceVersion": rv, "labels": labels},
        "status": {
            "phase": "Running" if running else "Pending",
            "conditions": [{"type": kind, "status": "True"} for kind in conditions],
            "containerStatuses": [{"name": "server", "state": state}],
        },
    }


class RecordingApi:
    """A `KubePodApi` whose Pods progress through the watch events the test gives; it records each request."""

    def __init__(self, events: list[Obj], listed: list[Obj] | None = None) -> None:
        self.events = events
        self.listed = listed or []
        self.requests: list[tuple[str, str]] = []
        self.watched_from: list[str | None] = []

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Obj:
        self.requests.append(("get", path))
        return self.events[-1]

    async def list(self, path: str, *, label_selector: str | None = None, field_selector: str | None = None) -> Obj:
        self.requests.append(("list", path))
        return {"metadata": {"resourceVersion": "5"}, "items": self.listed}

    async def create(self, path: str, body: Obj) -> Obj:
        self.requests.append(("create", path))
        name = "job-1" if path.endswith("/jobs") else "pod-1"
        return {**body, "metadata": {**body["metadata"], "name": name, "resourceVersion": "10"}}

    async def replace(self, path: str, body: Obj) -> Obj:
        raise AssertionError("not expected")

    async def patch(self, path: str, body: Any, *, kind: str = "merge") -> Obj:
        self.requests.append(("patch", path))
        return _pod(path.rsplit("/", 1)[1], "12", "PodScheduled", "PodReadyToStartContainers", running=True)

    async def apply(self, path: str, body: Obj, *, manager: str = "kubemcp", force: bool = True) -> Obj:
        raise AssertionError("not expected")

    async def delete(
        self, path: str, *, grace_seconds: int | None = None, propagation: str = "Background"
    ) -> Obj | None:
        self.requests.append(("delete", path))
        return None

    async def watch(
        self,
        path: str,
        *,
        resource_version: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 60,
    ) -> AsyncIterator[Obj]:
        self.requests.append(("watch", path))
        self.watched_from.append(resource_version)
        for event in self.events:
            yield {"type": "MODIFIED", "object": event}

    def attach(self, namespace: str, pod: str, container: str) -> AbstractAsyncContextManager[AttachedStreams]:
        raise AssertionError("not expected")


async def _start(api: RecordingApi, entry: Obj) -> tuple[str, dict[str, float]]:
    spec = build_spec("srv", CatalogEntry.model_validate(entry), SOURCE, {}, {})
    runtime = KubernetesRuntime(api, "ns")
    phases = calls.StartPhases("srv")
    with calls.starting(phases):
        pod, _cleanup = await runtime._started_pod(spec, "ns")
    return pod, phases.reached


async def test_a_cold_pod_is_watched_from_its_create_with_no_read_in_between() -> None:
    api = RecordingApi(
        [
            _pod("pod-1", "11", "PodScheduled"),
            _pod("pod-1", "13", "PodScheduled", "PodReadyToStartContainers", running=True),
        ]
    )
    pod, reached = await _start(api, {"image": "x"})
    assert pod == "pod-1"
    assert [verb for verb, _ in api.requests] == ["create", "watch"]
    assert api.watched_from == ["10"]  # the created object's version
    assert list(reached) == ["created", "scheduled", "sandbox"]  # "running" is the caller's mark


async def test_a_claimed_warm_pod_is_ready_with_no_read_or_watch() -> None:
    running = _pod("pool-1", "7", "PodScheduled", running=True)
    api = RecordingApi([], listed=[running])
    pod, reached = await _start(api, {"image": "x", "kubernetes": {"warmPool": 1}})
    assert pod == "pool-1"
    assert [verb for verb, _ in api.requests] == ["list", "patch"]
    assert list(reached) == ["claimed", "scheduled", "sandbox"]


async def test_a_job_pod_is_watched_from_the_list_that_found_it() -> None:
    job_pod = _pod("job-1-abc", "20")
    api = RecordingApi([_pod("job-1-abc", "21", "PodScheduled", "PodReadyToStartContainers", running=True)], [job_pod])
    pod, reached = await _start(api, {"image": "x", "kubernetes": {"perCallKind": "Job"}})
    assert pod == "job-1-abc"
    assert [verb for verb, _ in api.requests] == ["create", "list", "watch"]
    assert api.watched_from == ["20"]
    assert list(reached) == ["created", "pod_created", "scheduled", "sandbox"]
