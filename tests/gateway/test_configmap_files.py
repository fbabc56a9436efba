"""An MCPGateway's ConfigMap as the gateway's files, its optional authorization policy included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from controller.fakekube import FakeKube
from kubemcp.crd.models import API_VERSION
from kubemcp.files.authz_policy import load_policy
from kubemcp.gateway.configmap_files import ConfigMapFiles
from kubemcp.kube.client import path_for

pytestmark = pytest.mark.anyio

POLICY = "rules:\n  - principals: [token:alice]\n    allow: ['dice:*']\n"


async def test_authz_yaml_is_the_gateway_policy_and_its_absence_allows_everything(tmp_path: Path) -> None:
    kube = FakeKube()
    where = path_for("v1", "configmaps", "ns", "gw")
    kube.put(where, {"metadata": {"name": "gw"}, "data": {"authz.yaml": POLICY}})
    files = ConfigMapFiles(kube, "ns", "gw", tmp_path)
    assert await files.sync()
    assert files.authz.read_text() == POLICY
    assert load_policy(files.authz).rules[0].allow == ["dice:*"]
    kube.put(where, {"metadata": {"name": "gw"}, "data": {}})  # the MCPGateway no longer sets a policy
    assert await files.sync()
    policy = load_policy(files.authz)
    assert policy.default == "allow"
    assert policy.rules == []


def _discovery(digest: str, when: str, tools: list[str]) -> dict[str, Any]:
    return {"digest": digest, "discoveredAt": when, "tools": [{"name": n, "inputSchema": {}} for n in tools]}


def _refs(*servers: tuple[str, str, str]) -> str:
    refs = {
        name: {"namespace": "ns", "name": name, "digest": digest, "discoveredAt": when}
        for name, digest, when in servers
    }
    return yaml.safe_dump({"servers": refs})


CATALOG = "version: 2\nname: gw\nregistry:\n  a: {image: a:1}\n  b: {image: b:1}\n"


async def test_recorded_discoveries_are_read_from_the_servers_status_and_only_again_when_they_change(
    tmp_path: Path,
) -> None:
    kube = FakeKube()
    where = path_for("v1", "configmaps", "ns", "gw")
    status = {name: path_for(API_VERSION, "mcpservers", "ns", name) for name in ("a", "b")}
    kube.put(status["a"], {"status": {"discovery": _discovery("d1", "t1", ["alpha"])}})
    kube.put(status["b"], {"status": {"discovery": _discovery("d2", "t1", ["beta"])}})
    data = {"catalog.yaml": CATALOG, "discovery.yaml": _refs(("a", "d1", "t1"), ("b", "d2", "t1"))}
    kube.put(where, {"metadata": {"name": "gw"}, "data": data})
    files = ConfigMapFiles(kube, "ns", "gw", tmp_path)
    assert await files.sync()
    served = yaml.safe_load(files.catalog.read_text())["registry"]
    assert served["a"]["discovered"]["tools"] == [{"name": "alpha", "inputSchema": {}}]
    assert served["b"]["discovered"]["digest"] == "d2"
    assert served["a"]["image"] == "a:1"
    assert files.records.reads == 2

    # b was discovered again: the ConfigMap names the new record before the status is read; only b is read
    kube.put(status["b"], {"status": {"discovery": _discovery("d2", "t2", ["beta", "gamma"])}})
    data["discovery.yaml"] = _refs(("a", "d1", "t1"), ("b", "d2", "t2"))
    kube.put(where, {"metadata": {"name": "gw"}, "data": data})
    assert await files.sync()
    served = yaml.safe_load(files.catalog.read_text())["registry"]
    assert [tool["name"] for tool in served["b"]["discovered"]["tools"]] == ["beta", "gamma"]
    assert files.records.reads == 3
    assert not await files.sync()  # nothing changed: nothing read, nothing written
    assert files.records.reads == 3


async def test_a_record_not_there_yet_is_served_without_and_read_again_on_the_next_sync(tmp_path: Path) -> None:
    kube = FakeKube()
    where = path_for("v1", "configmaps", "ns", "gw")
    status = path_for(API_VERSION, "mcpservers", "ns", "a")
    kube.put(status, {"status": {"discovery": _discovery("old", "t0", ["stale"])}})  # not the one named
    data = {"catalog.yaml": CATALOG, "discovery.yaml": _refs(("a", "d1", "t1"), ("b", "d2", "t1"))}  # b: absent
    kube.put(where, {"metadata": {"name": "gw"}, "data": data})
    files = ConfigMapFiles(kube, "ns", "gw", tmp_path)
    assert await files.sync()
    served = yaml.safe_load(files.catalog.read_text())["registry"]
    assert "discovered" not in served["a"]  # never another digest's tools
    assert "discovered" not in served["b"]

    kube.put(status, {"status": {"discovery": _discovery("d1", "t1", ["alpha"])}})
    assert await files.sync()  # the ConfigMap is unchanged, but the sync was incomplete: read again
    served = yaml.safe_load(files.catalog.read_text())["registry"]
    assert [tool["name"] for tool in served["a"]["discovered"]["tools"]] == ["alpha"]
    assert "discovered" not in served["b"]


async def test_an_unreadable_discovery_file_serves_the_catalog_as_it_is(tmp_path: Path) -> None:
    kube = FakeKube()
    data = {"catalog.yaml": CATALOG, "discovery.yaml": "servers: [not, a, mapping]\n"}
    kube.put(path_for("v1", "configmaps", "ns", "gw"), {"metadata": {"name": "gw"}, "data": data})
    files = ConfigMapFiles(kube, "ns", "gw", tmp_path)
    assert await files.sync()
    assert files.catalog.read_text() == CATALOG


class WatchedKube(FakeKube):
    """The in-memory API, whose watches report what the test sends them (and end when it closes them)."""

    def __init__(self) -> None:
        super().__init__()
        self.send, self.receive = anyio.create_memory_object_stream[dict[str, Any]](10)
        self.watches: list[tuple[str, str | None, str | None]] = []

    async def watch(
        self,
        path: str,
        *,
        resource_version: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 60,
    ) -> AsyncIterator[dict[str, Any]]:
        self.watches.append((path, field_selector, resource_version))
        async for event in self.receive:
            yield event


async def test_an_edit_reaches_the_files_through_a_watch_not_a_poll(tmp_path: Path) -> None:
    kube = WatchedKube()
    where = path_for("v1", "configmaps", "ns", "gw")
    configmap = kube.put(where, {"metadata": {"name": "gw"}, "data": {"authz.yaml": POLICY}})
    files = ConfigMapFiles(kube, "ns", "gw", tmp_path)
    assert await files.sync()
    async with kube.send, kube.receive, anyio.create_task_group() as tg:
        tg.start_soon(files.follow, 3600.0)  # a poll would not come for an hour
        edited = kube.put(where, {**configmap, "data": {}})  # the MCPGateway no longer sets a policy
        await kube.send.send({"type": "MODIFIED", "object": edited})
        with anyio.fail_after(10):
            while load_policy(files.authz).rules:
                await anyio.sleep(0.01)
        # One watch, held open, from the version read last (a watch from no version is not served by every
        # API server's storage, and would report the whole ConfigMap again).
        version = configmap["metadata"]["resourceVersion"]
        assert kube.watches == [(path_for("v1", "configmaps", "ns"), "metadata.name=gw", version)]
        tg.cancel_scope.cancel()


async def test_a_record_named_by_a_watched_edit_and_not_there_yet_is_read_again_soon(tmp_path: Path) -> None:
    kube = WatchedKube()
    where = path_for("v1", "configmaps", "ns", "gw")
    status = path_for(API_VERSION, "mcpservers", "ns", "a")
    kube.put(status, {"status": {"discovery": _discovery("d1", "t1", ["alpha"])}})
    data = {"catalog.yaml": CATALOG, "discovery.yaml": _refs(("a", "d1", "t1"))}
    configmap = kube.put(where, {"metadata": {"name": "gw"}, "data": data})
    files = ConfigMapFiles(kube, "ns", "gw", tmp_path)
    assert await files.sync()
    async with kube.send, kube.receive, anyio.create_task_group() as tg:
        tg.start_soon(files.follow, 0.05)
        # a was discovered again: the edit names the new record before the server's status has it
        edited = kube.put(where, {**configmap, "data": {**data, "discovery.yaml": _refs(("a", "d1", "t2"))}})
        await kube.send.send({"type": "MODIFIED", "object": edited})
        with anyio.fail_after(10):
            while files.records.reads < 2:  # the edit was read (and a's new record was not there)
                await anyio.sleep(0.01)
        kube.put(status, {"status": {"discovery": _discovery("d1", "t2", ["alpha", "beta"])}})
        with anyio.fail_after(10):  # no further event: the incomplete sync is retried by itself
            while "beta" not in files.catalog.read_text():
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
