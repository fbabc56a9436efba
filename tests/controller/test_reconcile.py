"""The reconcilers against an in-memory API: conditions and Events, discovery, the warm pool, gateway objects."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from controller.fakekube import FakeKube
from controller.objects import DICE, catalog, gateway, server
from kubemcp.controller import kinds, mcpgateway
from kubemcp.controller.context import Controller
from kubemcp.controller.mcpcatalog import reconcile_catalog
from kubemcp.controller.mcpgateway import reconcile_gateway, reconcile_gateways_in
from kubemcp.controller.mcpserver import reconcile_server
from kubemcp.controller.options import OperatorOptions
from kubemcp.controller.resolve import resolve
from kubemcp.crd.conditions import find
from kubemcp.errors import ServerUnavailableError
from kubemcp.gateway.configmap_files import ConfigMapFiles
from kubemcp.kube.client import UnreachableError
from kubemcp.model.spec import ServerSpec

pytestmark = pytest.mark.anyio

NS = "team"
Obj = dict[str, Any]


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def ctl(kube: FakeKube) -> Controller:
    return Controller(kube, OperatorOptions(namespaces=(NS,), gateway_image="kubemcp/kubemcp:dev"))


def put(kube: FakeKube, plural: str, obj: Obj) -> Obj:
    return kube.put(kinds.path(plural, NS, obj["metadata"]["name"]), obj)


def status_of(kube: FakeKube, plural: str, name: str) -> Obj:
    status: Obj = kube.objects[kinds.path(plural, NS, name)].get("status") or {}
    return status


def condition(status: Obj, type_: str) -> tuple[str, str]:
    found = find(status.get("conditions"), type_)
    assert found is not None, f"no {type_} condition in {status}"
    return found["status"], found["reason"]


async def settle(ctl: Controller) -> None:
    """Let background discoveries finish."""
    for _ in range(50):
        running = [task for _, task in ctl.discovery.running.values()]
        if not running:
            return
        await asyncio.gather(*running, return_exceptions=True)


def fake_discovery(monkeypatch: pytest.MonkeyPatch, result: Exception | None = None) -> list[str]:
    calls: list[str] = []

    async def discover(kube: Any, spec: ServerSpec, owner: Obj, **_: Any) -> Obj:
        calls.append(spec.name)
        if result is not None:
            raise result
        return {
            "digest": spec.digest,
            "discoveredAt": "2026-01-01T00:00:00Z",
            "tools": [{"name": "roll", "inputSchema": {"type": "object"}}],
            "prompts": [],
            "resources": [],
            "resourceTemplates": [],
        }

    monkeypatch.setattr("kubemcp.controller.mcpserver.discover", discover)
    return calls


async def test_a_bad_server_gets_a_condition_and_one_event(kube: FakeKube, ctl: Controller) -> None:
    put(kube, kinds.SERVERS, server("dice"))
    await reconcile_server(ctl, NS, "dice")
    status = status_of(kube, kinds.SERVERS, "dice")
    assert condition(status, "Resolved") == ("False", "CatalogNotFound")
    assert condition(status, "Ready") == ("False", "CatalogNotFound")
    assert status["observedGeneration"] == 1
    [event] = kube.events(NS)
    assert (event["type"], event["reason"]) == ("Warning", "CatalogNotFound")
    assert event["involvedObject"]["kind"] == "MCPServer"
    writes = list(kube.writes)
    await reconcile_server(ctl, NS, "dice")  # level-based: nothing new, nothing written
    assert kube.writes == writes
    assert len(kube.events(NS)) == 1


async def test_discovery_is_recorded_and_the_pool_filled(
    kube: FakeKube, ctl: Controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_discovery(monkeypatch)
    put(kube, kinds.CATALOGS, catalog())
    obj = put(kube, kinds.SERVERS, server("dice", warmPool=2))
    await reconcile_server(ctl, NS, "dice")
    await settle(ctl)
    digest = resolve(obj, catalog()).digest
    status = status_of(kube, kinds.SERVERS, "dice")
    assert status["resolved"]["digest"] == digest
    assert status["discovery"]["digest"] == digest
    assert [tool["name"] for tool in status["discovery"]["tools"]] == ["roll"]
    assert condition(status, "Discovered") == ("True", "Discovered")
    assert condition(status, "Ready") == ("True", "Ready")
    assert condition(status, "Degraded") == ("False", "AsExpected")
    pods = kube.under(f"/api/v1/namespaces/{NS}/pods")
    assert len(pods) == 2
    for pod in pods:
        assert pod["metadata"]["labels"]["kubemcp.dev/role"] == "pool"
        assert pod["metadata"]["labels"]["kubemcp.dev/digest"] == digest
        assert pod["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
    assert status["warmPool"] == {"desired": 2, "ready": 0}  # created, not yet running
    lists: list[str] = []
    listing = kube.list

    async def counted(path: str, **options: Any) -> Obj:
        lists.append(path)
        return await listing(path, **options)

    monkeypatch.setattr(kube, "list", counted)
    await reconcile_server(ctl, NS, "dice")
    assert calls == ["dice"]  # discovered once for this digest
    assert len(kube.under(f"/api/v1/namespaces/{NS}/pods")) == 2
    assert lists.count(f"/api/v1/namespaces/{NS}/pods") == 1  # one list of its Pods serves every step


async def test_a_changed_image_is_discovered_again_and_stale_pool_pods_go(
    kube: FakeKube, ctl: Controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_discovery(monkeypatch)
    put(kube, kinds.CATALOGS, catalog())
    put(kube, kinds.SERVERS, server("dice", warmPool=1))
    await reconcile_server(ctl, NS, "dice")
    await settle(ctl)
    [old_pod] = kube.under(f"/api/v1/namespaces/{NS}/pods")
    put(kube, kinds.CATALOGS, catalog(entries={"dice": {**DICE, "image": "kubemcp/example-dice:2"}}))
    await reconcile_catalog(ctl, NS, "examples")
    await settle(ctl)
    assert calls == ["dice", "dice"]
    status = status_of(kube, kinds.SERVERS, "dice")
    assert status["resolved"]["image"] == "kubemcp/example-dice:2"
    assert status["discovery"]["digest"] == status["resolved"]["digest"]
    [new_pod] = kube.under(f"/api/v1/namespaces/{NS}/pods")
    assert new_pod["metadata"]["name"] != old_pod["metadata"]["name"]
    assert new_pod["metadata"]["labels"]["kubemcp.dev/digest"] == status["resolved"]["digest"]


async def test_discovery_failure_is_a_condition_retried_with_backoff(
    kube: FakeKube, ctl: Controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = ServerUnavailableError(
        "dice", 'pod mcp-dice-discovery-x cannot start: CreateContainerConfigError: secret "kubemcp-secrets" not found'
    )
    calls = fake_discovery(monkeypatch, problem)
    put(kube, kinds.CATALOGS, catalog())
    put(kube, kinds.SERVERS, server("dice"))
    await reconcile_server(ctl, NS, "dice")
    await settle(ctl)
    status = status_of(kube, kinds.SERVERS, "dice")
    assert condition(status, "Discovered") == ("False", "CreateContainerConfigError")
    assert condition(status, "Ready") == ("False", "CreateContainerConfigError")
    assert condition(status, "Degraded") == ("True", "CreateContainerConfigError")
    assert "kubemcp-secrets" in find(status["conditions"], "Discovered")["message"]  # type: ignore[index]
    assert "discovery" not in status
    failure = ctl.discovery.failures[(NS, "dice")]
    assert failure.attempts == 1
    await reconcile_server(ctl, NS, "dice")  # within the backoff: not run again
    await settle(ctl)
    assert calls == ["dice"]
    warnings = [e["reason"] for e in kube.events(NS) if e["type"] == "Warning"]
    assert warnings.count("CreateContainerConfigError") == 2  # Discovered and Ready, once each


async def test_catalog_status_and_its_servers_follow(
    kube: FakeKube, ctl: Controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_discovery(monkeypatch)
    put(kube, kinds.SERVERS, server("dice"))
    await reconcile_server(ctl, NS, "dice")
    assert condition(status_of(kube, kinds.SERVERS, "dice"), "Resolved") == ("False", "CatalogNotFound")
    put(kube, kinds.CATALOGS, catalog(entries={"dice": DICE, "broken": {"image": "x", "tools": [{"name": ""}]}}))
    await reconcile_catalog(ctl, NS, "examples")
    status = status_of(kube, kinds.CATALOGS, "examples")
    assert status["entries"] == 2
    ready = find(status["conditions"], "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "InvalidEntries")
    assert "broken" in ready["message"]
    assert condition(status_of(kube, kinds.SERVERS, "dice"), "Resolved") == ("True", "Resolved")
    await settle(ctl)


async def test_gateway_objects_configmap_and_status(
    kube: FakeKube, ctl: Controller, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_discovery(monkeypatch)
    put(kube, kinds.CATALOGS, catalog())
    put(kube, kinds.SERVERS, server("dice", labels={"serve": "yes"}))
    put(kube, kinds.SERVERS, server("other", catalogRef={"name": "examples", "entry": "dice"}))
    put(kube, kinds.SERVERS, server("broken", labels={"serve": "yes"}, catalogRef={"name": "nope"}))
    for name in ("dice", "other"):
        await reconcile_server(ctl, NS, name)
    await settle(ctl)
    gw = put(kube, kinds.GATEWAYS, gateway("mcp", serverSelector={"matchLabels": {"serve": "yes"}}))
    await reconcile_gateway(ctl, NS, "mcp")

    made = {
        path: obj
        for path, obj in kube.objects.items()
        if obj.get("kind") in {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Deployment", "Service"}
        and obj["metadata"].get("ownerReferences")  # the servers' own account is the namespace's, not the gateway's
    }
    assert sorted(obj["kind"] for obj in made.values()) == [
        "ConfigMap", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount",
    ]  # fmt: skip
    for obj in made.values():
        assert obj["metadata"]["ownerReferences"][0]["uid"] == gw["metadata"]["uid"]
    configmap = next(obj for obj in made.values() if obj["kind"] == "ConfigMap")
    served = yaml.safe_load(configmap["data"]["catalog.yaml"])["registry"]
    assert list(served) == ["dice"]
    assert "discovered" not in served["dice"]  # the schemas stay in the MCPServer's status, their one record
    assert served["dice"]["kubernetes"]["namespace"] == NS
    recorded = status_of(kube, kinds.SERVERS, "dice")["discovery"]
    refs = yaml.safe_load(configmap["data"]["discovery.yaml"])["servers"]
    assert refs == {
        "dice": {
            "namespace": NS,
            "name": "dice",
            "digest": recorded["digest"],
            "discoveredAt": recorded["discoveredAt"],
        }
    }
    role = next(obj for obj in made.values() if obj["kind"] == "Role")
    assert {
        "apiGroups": ["kubemcp.dev"],
        "resources": ["mcpservers/status"],
        "resourceNames": ["dice"],
        "verbs": ["get"],
    } in role["rules"]
    files = ConfigMapFiles(kube, NS, configmap["metadata"]["name"], tmp_path)  # what the gateway serves
    assert await files.sync()
    loaded = yaml.safe_load(files.catalog.read_text())["registry"]
    assert [tool["name"] for tool in loaded["dice"]["discovered"]["tools"]] == ["roll"]
    assert loaded["dice"]["discovered"]["digest"] == recorded["digest"]

    status = status_of(kube, kinds.GATEWAYS, "mcp")
    assert status["servers"] == ["dice"]
    assert status["endpoint"] == "mcp.team.svc:8811"
    assert condition(status, "Reconciled") == ("True", "Applied")
    assert condition(status, "Ready") == ("Unknown", "Starting")
    assert condition(status, "Degraded") == ("True", "ServersLeftOut")
    assert "team/broken" in find(status["conditions"], "Degraded")["message"]  # type: ignore[index]

    writes = list(kube.writes)
    await reconcile_gateway(ctl, NS, "mcp")
    assert kube.writes == writes  # nothing changed, nothing written


async def test_gateway_never_takes_over_objects_of_others(kube: FakeKube, ctl: Controller) -> None:
    kube.put(
        f"/api/v1/namespaces/{NS}/services/mcp",
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "mcp", "namespace": NS}},
    )
    put(kube, kinds.GATEWAYS, gateway("mcp"))
    await reconcile_gateway(ctl, NS, "mcp")
    status = status_of(kube, kinds.GATEWAYS, "mcp")
    assert condition(status, "Reconciled") == ("False", "NameConflict")
    assert "Service team/mcp" in find(status["conditions"], "Reconciled")["message"]  # type: ignore[index]
    assert not [w for w in kube.writes if w[0] == "apply"]


async def test_discovery_pods_an_earlier_operator_left_are_removed(
    kube: FakeKube, ctl: Controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_discovery(monkeypatch)
    put(kube, kinds.CATALOGS, catalog())
    put(kube, kinds.SERVERS, server("dice"))
    left = f"/api/v1/namespaces/{NS}/pods/mcp-dice-discovery-old"
    labels = {"kubemcp.dev/server": "dice", "kubemcp.dev/role": "discovery"}
    kube.put(left, {"kind": "Pod", "metadata": {"name": "mcp-dice-discovery-old", "labels": labels}})
    await reconcile_server(ctl, NS, "dice")
    await settle(ctl)
    assert left not in kube.objects


async def test_gateway_serving_other_namespaces_gets_roles_there_and_removes_them(
    kube: FakeKube, ctl: Controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubemcp.controller.resync import remove_orphaned_rbac

    fake_discovery(monkeypatch)
    put(kube, kinds.CATALOGS, catalog())
    put(kube, kinds.SERVERS, server("dice"))
    other = server("notes", config={"db_path": "/tmp/n"})
    other["metadata"]["namespace"] = "apps"
    kube.put(
        kinds.path(kinds.CATALOGS, "apps", "examples"),
        {**catalog(), "metadata": {"name": "examples", "namespace": "apps"}},
    )
    kube.put(kinds.path(kinds.SERVERS, "apps", "notes"), other)
    put(kube, kinds.GATEWAYS, gateway("mcp", namespaces=[NS, "apps"]))
    await reconcile_gateway(ctl, NS, "mcp")
    status = status_of(kube, kinds.GATEWAYS, "mcp")
    assert status["servers"] == ["dice", "notes"]
    assert status["namespaces"] == [NS, "apps"]
    role = kube.objects["/apis/rbac.authorization.k8s.io/v1/namespaces/apps/roles/kubemcp-gateway-mcp"]
    binding = kube.objects["/apis/rbac.authorization.k8s.io/v1/namespaces/apps/rolebindings/kubemcp-gateway-mcp"]
    assert "ownerReferences" not in role["metadata"]
    assert binding["subjects"][0]["namespace"] == NS
    configmap = kube.objects[f"/api/v1/namespaces/{NS}/configmaps/mcp-kubemcp-gateway"]
    served = yaml.safe_load(configmap["data"]["catalog.yaml"])["registry"]
    assert served["notes"]["kubernetes"]["namespace"] == "apps"

    put(kube, kinds.GATEWAYS, {**gateway("mcp", namespaces=[NS]), "status": status})
    await reconcile_gateway(ctl, NS, "mcp")  # no longer serving apps: its Roles there go
    assert not kube.under("/apis/rbac.authorization.k8s.io/v1/namespaces/apps/roles")
    assert not kube.under("/apis/rbac.authorization.k8s.io/v1/namespaces/apps/rolebindings")

    put(kube, kinds.GATEWAYS, gateway("mcp", namespaces=[NS, "apps"]))
    await reconcile_gateway(ctl, NS, "mcp")
    assert kube.under("/apis/rbac.authorization.k8s.io/v1/namespaces/apps/roles")
    await remove_orphaned_rbac(ctl)  # the gateway still exists: its Roles stay
    assert kube.under("/apis/rbac.authorization.k8s.io/v1/namespaces/apps/roles")
    del kube.objects[kinds.path(kinds.GATEWAYS, NS, "mcp")]
    await remove_orphaned_rbac(ctl)
    assert not kube.under("/apis/rbac.authorization.k8s.io/v1/namespaces/apps/roles")
    assert not kube.under("/apis/rbac.authorization.k8s.io/v1/namespaces/apps/rolebindings")


async def test_one_periodic_pass_reconciles_everything(
    kube: FakeKube, ctl: Controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubemcp.controller.resync import resync_once

    fake_discovery(monkeypatch)
    put(kube, kinds.CATALOGS, catalog())
    put(kube, kinds.SERVERS, server("dice", warmPool=1))
    put(kube, kinds.GATEWAYS, gateway("mcp"))
    await resync_once(ctl)
    await settle(ctl)
    assert status_of(kube, kinds.CATALOGS, "examples")["entries"] == 2
    assert condition(status_of(kube, kinds.SERVERS, "dice"), "Ready") == ("True", "Ready")
    assert status_of(kube, kinds.GATEWAYS, "mcp")["servers"] == ["dice"]
    assert len(kube.under(f"/api/v1/namespaces/{NS}/pods")) == 1
    for obj in kube.objects.values():
        assert not obj["metadata"].get("finalizers")


async def test_a_metrics_port_gets_its_own_service_that_goes_with_it(kube: FakeKube, ctl: Controller) -> None:
    metrics_service = f"/api/v1/namespaces/{NS}/services/mcp-kubemcp-metrics"
    put(kube, kinds.GATEWAYS, gateway("mcp", serviceType="NodePort", options={"metrics": {"port": 9464}}))
    await reconcile_gateway(ctl, NS, "mcp")
    scrape = kube.objects[metrics_service]
    assert scrape["spec"]["type"] == "ClusterIP"
    assert [port["port"] for port in scrape["spec"]["ports"]] == [9464]
    mcp = kube.objects[f"/api/v1/namespaces/{NS}/services/mcp"]
    assert [port["name"] for port in mcp["spec"]["ports"]] == ["mcp"]  # the NodePort Service has no metrics port
    put(kube, kinds.GATEWAYS, gateway("mcp", serviceType="NodePort"))
    await reconcile_gateway(ctl, NS, "mcp")
    assert metrics_service not in kube.objects


async def test_a_burst_of_server_changes_reconciles_only_the_gateways_selecting_them_once(
    kube: FakeKube, ctl: Controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(kube, kinds.GATEWAYS, gateway("mcp", serverSelector={"matchLabels": {"serve": "yes"}}))
    put(kube, kinds.GATEWAYS, gateway("other", serverSelector={"matchLabels": {"serve": "no"}}))
    put(kube, kinds.GATEWAYS, gateway("everything"))
    passes: list[str] = []

    async def counted(ctl: Controller, namespace: str, name: str) -> None:
        passes.append(name)

    monkeypatch.setattr(mcpgateway, "_reconcile", counted)
    busy = [ctl.lock(kinds.GATEWAYS, NS, name) for name in ("mcp", "everything", "other")]
    for lock in busy:
        await lock.acquire()  # passes are running while five servers labelled serve=yes change
    burst = [asyncio.create_task(reconcile_gateways_in(ctl, NS, {"serve": "yes"})) for _ in range(5)]
    for _ in range(20):
        await asyncio.sleep(0)
    for lock in busy:
        lock.release()
    await asyncio.gather(*burst)
    assert sorted(passes) == ["everything", "mcp"]  # one more pass each, however many changes came meanwhile
    assert ctl.waiting == set()

    passes.clear()
    await reconcile_gateways_in(ctl, NS)  # labels unknown (a server went away): every gateway
    assert sorted(passes) == ["everything", "mcp", "other"]


async def test_objects_already_as_wanted_are_not_written_and_a_dropped_key_goes(
    kube: FakeKube, ctl: Controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = {"rules": [{"principals": ["token:default"], "allow": ["*"]}]}
    uid = put(kube, kinds.GATEWAYS, gateway("mcp", authorization=policy))["metadata"]["uid"]
    await reconcile_gateway(ctl, NS, "mcp")
    configmap = f"/api/v1/namespaces/{NS}/configmaps/mcp-kubemcp-gateway"
    assert "authz.yaml" in kube.objects[configmap]["data"]
    applied: list[str] = []
    applying = kube.apply

    async def counted(path: str, body: Obj, **options: Any) -> Obj:
        applied.append(body["kind"])
        return await applying(path, body, **options)

    monkeypatch.setattr(kube, "apply", counted)
    await reconcile_gateway(ctl, NS, "mcp")
    assert not {"ConfigMap", "Role", "ServiceAccount"} & set(applied)  # read, found as wanted, not written

    dropped = gateway("mcp")
    dropped["metadata"]["uid"] = uid  # the same MCPGateway, its policy dropped: the key must go, not linger
    put(kube, kinds.GATEWAYS, dropped)
    await reconcile_gateway(ctl, NS, "mcp")
    assert "ConfigMap" in applied
    assert "authz.yaml" not in kube.objects[configmap]["data"]


async def test_a_discovery_the_api_did_not_take_is_recorded_by_the_next_pass_not_made_again(
    kube: FakeKube, ctl: Controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_discovery(monkeypatch)
    put(kube, kinds.CATALOGS, catalog())
    put(kube, kinds.SERVERS, server("dice"))
    writing = ctl.reporter.status
    refused: list[str] = []

    async def unanswered(plural: str, obj: Obj, status: Obj) -> bool:
        if "discovery" in status and not refused:  # the API does not answer the discovery's write, once
            refused.append(kinds.name_of(obj))
            raise UnreachableError("https://api", TimeoutError())
        return await writing(plural, obj, status)

    monkeypatch.setattr(ctl.reporter, "status", unanswered)
    await reconcile_server(ctl, NS, "dice")
    await settle(ctl)  # discovered; its write refused; the task ends quietly
    assert refused == ["dice"]
    assert "discovery" not in status_of(kube, kinds.SERVERS, "dice")
    await reconcile_server(ctl, NS, "dice")  # the next pass records what was found
    await settle(ctl)
    status = status_of(kube, kinds.SERVERS, "dice")
    assert [tool["name"] for tool in status["discovery"]["tools"]] == ["roll"]
    assert condition(status, "Discovered") == ("True", "Discovered")
    assert calls == ["dice"]  # discovered once, not again
