"""What a namespace holding server Pods gets from the operator, against the in-memory API."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from controller.fakekube import FakeKube
from kubemcp.controller import server_namespace
from kubemcp.controller.context import Controller
from kubemcp.controller.options import OperatorOptions
from kubemcp.kube.client import path_for

pytestmark = pytest.mark.anyio
NS = "team"
Obj = dict[str, Any]


def namespace(kube: FakeKube, labels: dict[str, str] | None = None) -> str:
    path = path_for("v1", "namespaces", None, NS)
    kube.put(path, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": labels or {}}})
    return path


async def test_servers_get_an_account_without_rights_or_token_and_no_ingress() -> None:
    kube = FakeKube()
    ns_path = namespace(kube)
    assert await server_namespace.secure(Controller(kube, OperatorOptions()), NS) is None
    account = kube.objects[path_for("v1", "serviceaccounts", NS, "kubemcp-server")]
    assert account["automountServiceAccountToken"] is False
    policy = kube.objects[path_for("networking.k8s.io/v1", "networkpolicies", NS, "kubemcp-servers-no-ingress")]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert "ingress" not in policy["spec"]  # no rule: nothing may connect to a server Pod
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "mcp-server"
    assert kube.objects[ns_path]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    writes = list(kube.writes)
    assert await server_namespace.secure(Controller(kube, OperatorOptions()), NS) is None
    assert kube.writes == writes  # level-based: nothing new, nothing written


async def test_a_namespace_that_chose_a_weaker_level_is_reported_not_changed() -> None:
    kube = FakeKube()
    ns_path = namespace(kube, {"pod-security.kubernetes.io/enforce": "baseline"})
    problem = await server_namespace.secure(Controller(kube, OperatorOptions()), NS)
    assert problem is not None
    assert "baseline" in problem
    assert kube.objects[ns_path]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"


async def test_a_namespace_is_checked_once_per_resync_interval_not_once_per_server() -> None:
    kube = FakeKube()
    namespace(kube)
    account = path_for("v1", "serviceaccounts", NS, "kubemcp-server")
    ctl = Controller(kube, OperatorOptions(interval=3600))
    assert await server_namespace.secure(ctl, NS) is None
    del kube.objects[account]
    assert await server_namespace.secure(ctl, NS) is None  # another server of the namespace, same pass
    assert account not in kube.objects
    ctl = Controller(kube, OperatorOptions(interval=0))  # the next pass: made good again
    assert await server_namespace.secure(ctl, NS) is None
    assert account in kube.objects


class SlowKube(FakeKube):
    """Answers after other tasks had a turn, as the API server does; counts the namespace reads."""

    def __init__(self) -> None:
        super().__init__()
        self.namespace_reads = 0

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Obj:
        await asyncio.sleep(0)
        if path == path_for("v1", "namespaces", None, NS):
            self.namespace_reads += 1
        return await super().get(path, params)

    async def apply(self, path: str, body: Obj, *, manager: str = "kubemcp", force: bool = True) -> Obj:
        await asyncio.sleep(0)
        return await super().apply(path, body, manager=manager, force=force)


async def test_servers_asking_at_once_wait_for_one_check_of_their_namespace() -> None:
    kube = SlowKube()
    namespace(kube)
    ctl = Controller(kube, OperatorOptions(interval=3600))
    assert await asyncio.gather(*(server_namespace.secure(ctl, NS) for _ in range(20))) == [None] * 20
    assert kube.namespace_reads == 1
