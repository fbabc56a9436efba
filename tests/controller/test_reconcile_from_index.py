"""The reconcilers reading the operator's index instead of the API server: a steady pass asks for each resource
once (its LIST), events and the operator's own writes keep the index current, and a missed event is made
good by the next pass."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from typing import Any

import anyio
import pytest
from controller.fakekube import FakeKube
from controller.objects import catalog, gateway
from controller.objects import server as any_server
from kubemcp.controller import kinds, server_network
from kubemcp.controller.context import Controller
from kubemcp.controller.kopf_handlers import observed
from kubemcp.controller.mcpgateway import reconcile_gateway, reconcile_gateways_in
from kubemcp.controller.mcpserver import reconcile_server
from kubemcp.controller.options import OperatorOptions
from kubemcp.controller.resync import prime, resync_once
from kubemcp.controller.write_through import located
from kubemcp.kube.client import path_for
from kubemcp.model.spec import ServerSpec

pytestmark = pytest.mark.anyio

NS = "team"
Obj = dict[str, Any]


class CountingKube(FakeKube):
    """The in-memory API, counting what the reconcilers ask of it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[str, str]] = []

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Obj:
        self.asked.append(("get", path))
        return await super().get(path, params)

    async def list(self, path: str, *, label_selector: str | None = None, field_selector: str | None = None) -> Obj:
        self.asked.append(("list", path))
        return await super().list(path, label_selector=label_selector, field_selector=field_selector)

    async def apply(self, path: str, body: Obj, *, manager: str = "kubemcp", force: bool = True) -> Obj:
        self.asked.append(("apply", path))
        return await super().apply(path, body, manager=manager, force=force)


@pytest.fixture
def kube() -> CountingKube:
    return CountingKube()


@pytest.fixture
def ctl(kube: CountingKube, monkeypatch: pytest.MonkeyPatch) -> Controller:
    async def discover(kube: Any, spec: ServerSpec, owner: Obj, **_: Any) -> Obj:
        return {"digest": spec.digest, "discoveredAt": "2026-01-01T00:00:00Z", "tools": [{"name": "roll"}]}

    monkeypatch.setattr("kubemcp.controller.mcpserver.discover", discover)
    return Controller(kube, OperatorOptions(namespaces=(NS,), gateway_image="kubemcp/kubemcp:dev"))


def server(name: str, **spec: Any) -> Obj:
    """An MCPServer of the catalog's `dice` entry, under its own name."""
    return any_server(name, catalogRef={"name": "examples", "entry": "dice"}, **spec)


def put(kube: FakeKube, plural: str, obj: Obj) -> Obj:
    return kube.put(kinds.path(plural, NS, obj["metadata"]["name"]), obj)


def served(kube: FakeKube, name: str) -> list[str]:
    found: list[str] = kube.objects[kinds.path(kinds.GATEWAYS, NS, name)]["status"]["servers"]
    return found


async def settle(ctl: Controller) -> None:
    while running := [task for _, task in ctl.discovery.running.values()]:
        await asyncio.gather(*running, return_exceptions=True)


async def steady(ctl: Controller) -> None:
    """Prime the index and pass until every discovery is recorded."""
    await prime(ctl)
    for _ in range(2):
        await resync_once(ctl)
        await settle(ctl)


async def test_a_steady_pass_lists_each_resource_once_and_writes_nothing(kube: CountingKube, ctl: Controller) -> None:
    put(kube, kinds.CATALOGS, catalog())
    for name in ("s1", "s2", "s3"):
        put(kube, kinds.SERVERS, server(name, labels={"share": name[-1]}))
    put(kube, kinds.GATEWAYS, gateway("g1", serverSelector={"matchLabels": {"share": "1"}}))
    put(kube, kinds.GATEWAYS, gateway("all"))
    await steady(ctl)
    assert served(kube, "all") == ["s1", "s2", "s3"]
    assert served(kube, "g1") == ["s1"]

    kube.asked.clear()
    writes = list(kube.writes)
    held = {plural: copy.deepcopy(ctl.index.items(plural, NS)) for plural in (kinds.SERVERS, kinds.GATEWAYS)}
    await resync_once(ctl)
    assert held == {plural: ctl.index.items(plural, NS) for plural in held}  # read, never changed in place
    ours = [(verb, path) for verb, path in kube.asked if "/kubemcp.dev/" in path]
    assert sorted(ours) == sorted(
        ("list", kinds.path(plural, NS)) for plural in (kinds.CATALOGS, kinds.SERVERS, kinds.GATEWAYS)
    )  # one LIST each, no GET of one object, no LIST of the servers per gateway
    pods = [path for verb, path in kube.asked if path.endswith("/pods")]
    assert pods == [f"/api/v1/namespaces/{NS}/pods"]  # the server Pods, listed once for the index
    assert [path for verb, path in kube.asked if verb == "get"] == []  # the gateways' objects are known too
    egress = [path for verb, path in kube.asked if verb == "apply" and "networkpolicies" in path]
    assert egress == []  # every server's egress policy is as wanted: not applied again
    assert kube.writes == writes  # its own status writes were remembered: nothing written again


async def test_a_pass_makes_good_what_missed_events_left_out(kube: CountingKube, ctl: Controller) -> None:
    put(kube, kinds.CATALOGS, catalog())
    put(kube, kinds.SERVERS, server("s1"))
    put(kube, kinds.SERVERS, server("s2"))
    put(kube, kinds.GATEWAYS, gateway("all"))
    await steady(ctl)
    assert served(kube, "all") == ["s1", "s2"]

    del kube.objects[kinds.path(kinds.SERVERS, NS, "s1")]  # neither event reaches the operator
    put(kube, kinds.SERVERS, server("s3"))
    await resync_once(ctl)
    await settle(ctl)
    await resync_once(ctl)
    assert served(kube, "all") == ["s2", "s3"]


async def test_an_event_is_in_the_index_before_its_reconcile(kube: CountingKube, ctl: Controller) -> None:
    put(kube, kinds.CATALOGS, catalog())
    put(kube, kinds.SERVERS, server("s1"))
    put(kube, kinds.GATEWAYS, gateway("mine", serverSelector={"matchLabels": {"mine": "yes"}}))
    await steady(ctl)
    assert served(kube, "mine") == []

    relabelled = put(kube, kinds.SERVERS, server("s1", labels={"mine": "yes"}))
    observed(ctl, kinds.SERVERS, {"type": "MODIFIED", "object": relabelled})  # what the watch hands the handler
    await reconcile_gateway(ctl, NS, "mine")
    assert served(kube, "mine") == ["s1"]

    del kube.objects[kinds.path(kinds.SERVERS, NS, "s1")]
    observed(ctl, kinds.SERVERS, {"type": "DELETED", "object": relabelled})
    await reconcile_gateway(ctl, NS, "mine")
    assert served(kube, "mine") == []


async def test_a_deleted_egress_policy_is_put_back(kube: CountingKube, ctl: Controller) -> None:
    put(kube, kinds.CATALOGS, catalog())
    put(kube, kinds.SERVERS, server("s1"))
    await steady(ctl)
    path = path_for("networking.k8s.io/v1", "networkpolicies", NS, server_network.policy_name("s1"))
    policy = kube.objects.pop(path)  # someone deletes it
    assert server_network.owning_server(policy) == "s1"
    observed(ctl, kinds.POLICIES, {"type": "DELETED", "object": policy})
    await reconcile_server(ctl, NS, "s1")  # what the policy's handler does on DELETED
    assert kube.objects[path]["spec"] == policy["spec"]

    del kube.objects[path]  # and deleted again without an event: the next pass's LIST finds it missing
    await resync_once(ctl)
    assert path in kube.objects


async def test_a_pod_the_operator_just_started_is_not_started_again(kube: CountingKube, ctl: Controller) -> None:
    put(kube, kinds.CATALOGS, catalog())
    put(kube, kinds.SERVERS, server("s1", warmPool=1))
    await steady(ctl)
    pods = f"/api/v1/namespaces/{NS}/pods"
    assert len(kube.under(pods)) == 1
    for pod in kube.under(pods):  # the pool Pod ends; no watch event arrives before the next reconciles
        pod["status"] = {"phase": "Failed", "conditions": [{"lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        observed(ctl, kinds.PODS, {"type": "MODIFIED", "object": pod})
    await reconcile_server(ctl, NS, "s1")  # removes it and starts another
    await reconcile_server(ctl, NS, "s1")  # knows of both from its own writes
    assert len(kube.under(pods)) == 1


def test_writes_are_located_by_their_path() -> None:
    assert located("/api/v1/namespaces/team/pods") == ("pods", "team", None)
    assert located("/apis/kubemcp.dev/v1alpha1/namespaces/team/mcpservers/s1/status") == ("mcpservers", "team", "s1")
    assert located("/api/v1/namespaces/team") is None  # the namespace itself


async def test_gateway_objects_unchanged_since_applied_are_not_applied_again(
    kube: CountingKube, ctl: Controller
) -> None:
    put(kube, kinds.GATEWAYS, gateway("mcp"))
    await reconcile_gateway(ctl, NS, "mcp")
    kube.asked.clear()
    await reconcile_gateway(ctl, NS, "mcp")
    assert [path for verb, path in kube.asked if verb == "apply"] == []  # Deployment, Service, RoleBinding too

    deployment = "/apis/apps/v1/namespaces/team/deployments/mcp"
    changed = dict(kube.objects[deployment], spec={"replicas": 5})
    kube.put(deployment, changed)  # someone else changed it: it is applied as wanted again
    await reconcile_gateway(ctl, NS, "mcp")
    assert [path for verb, path in kube.asked if verb == "apply"] == [deployment]
    assert kube.objects[deployment]["spec"]["replicas"] == 1


async def test_a_server_reconcile_does_not_wait_for_the_gateway_passes_it_causes(
    kube: CountingKube, ctl: Controller
) -> None:
    put(kube, kinds.CATALOGS, catalog())
    put(kube, kinds.SERVERS, server("s1"))
    put(kube, kinds.GATEWAYS, gateway("all"))
    busy = ctl.lock(kinds.GATEWAYS, NS, "all")
    await busy.acquire()  # a long gateway pass is running
    with anyio.fail_after(10):
        await reconcile_server(ctl, NS, "s1")  # its status changed: the gateway's pass is asked for, not awaited
    assert "servers" not in (kube.objects[kinds.path(kinds.GATEWAYS, NS, "all")].get("status") or {})
    busy.release()
    with anyio.fail_after(10):
        await asyncio.gather(*ctl.background)
    assert served(kube, "all") == ["s1"]


async def test_a_gateway_pass_asked_for_by_servers_waits_as_long_as_its_last_pass_took(
    kube: CountingKube, ctl: Controller
) -> None:
    put(kube, kinds.GATEWAYS, gateway("all"))
    key = (kinds.GATEWAYS, NS, "all")
    ctl.pass_seconds[key] = 3600.0  # its last pass was long
    asked = asyncio.create_task(reconcile_gateways_in(ctl, NS, {"any": "label"}))
    with anyio.fail_after(10):
        while key not in ctl.waiting:
            await asyncio.sleep(0)
    with anyio.fail_after(10):
        await reconcile_gateways_in(ctl, NS, {"other": "label"})  # the waiting pass will see this change too
    assert "status" not in kube.objects[kinds.path(kinds.GATEWAYS, NS, "all")]  # not started yet
    ctl.pass_seconds[key] = 0.0
    asked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asked
    assert key not in ctl.waiting
    await reconcile_gateways_in(ctl, NS, {"any": "label"})
    assert served(kube, "all") == []
    assert key in ctl.pass_seconds
    assert ctl.pass_seconds[key] < 3600.0
