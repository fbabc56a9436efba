"""Removing a call's Pod when the API server cannot take it now: remembered and retried, the caller not
held up; and the client's error when the API server does not answer at all."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from typing import Any

import anyio
import pytest
from kubemcp.kube.client import KubeApiError, KubeClient, UnreachableError
from kubemcp.kube.config import KubeConfig
from kubemcp.runtimes import kubernetes_removals
from kubemcp.runtimes.kubernetes_removals import Removals

pytestmark = pytest.mark.anyio

Obj = dict[str, Any]


class AwayApiServer:
    """A KubeApi whose deletes fail as an unreachable API server's do until `back` is set."""

    def __init__(self) -> None:
        self.back = False
        self.deleted: list[str] = []
        self.refusal: KubeApiError = UnreachableError("https://127.0.0.1:1", ConnectionRefusedError("refused"))

    async def delete(self, path: str, *, grace_seconds: int | None = None, propagation: str = "Background") -> Obj:
        if not self.back:
            raise self.refusal
        self.deleted.append(path)
        return {}

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Obj:
        raise NotImplementedError

    async def list(self, path: str, *, label_selector: str | None = None, field_selector: str | None = None) -> Obj:
        raise NotImplementedError

    async def create(self, path: str, body: Obj) -> Obj:
        raise NotImplementedError

    async def replace(self, path: str, body: Obj) -> Obj:
        raise NotImplementedError

    async def patch(self, path: str, body: Any, *, kind: str = "merge") -> Obj:
        raise NotImplementedError

    async def apply(self, path: str, body: Obj, *, manager: str = "kubemcp", force: bool = True) -> Obj:
        raise NotImplementedError


async def test_a_removal_the_api_server_cannot_take_is_retried_until_it_can(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubernetes_removals, "RETRY_FIRST_SECONDS", 0.01)
    monkeypatch.setattr(kubernetes_removals, "RETRY_MAX_SECONDS", 0.05)
    api = AwayApiServer()
    removals = Removals(api)
    async with removals.running():
        with anyio.fail_after(5):
            await removals.remove("/api/v1/namespaces/ns/pods/p1", "pod p1")  # returns: the caller is not held up
        assert removals.pending == {"/api/v1/namespaces/ns/pods/p1": "pod p1"}
        await anyio.sleep(0.1)  # several retries while the API server stays away
        assert api.deleted == []
        api.back = True
        with anyio.fail_after(5):
            while removals.pending:
                await anyio.sleep(0.01)
    assert api.deleted == ["/api/v1/namespaces/ns/pods/p1"]


async def test_a_refused_removal_is_not_retried() -> None:
    api = AwayApiServer()
    api.refusal = KubeApiError(403, "Forbidden", "pods is forbidden")
    removals = Removals(api)
    with pytest.raises(KubeApiError, match="Forbidden"):
        await removals.remove("/api/v1/namespaces/ns/pods/p1", "pod p1")
    assert removals.pending == {}


async def test_an_api_server_that_does_not_answer_is_named_unreachable() -> None:
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = KubeConfig(server=f"https://127.0.0.1:{port}", ssl_context=ssl.create_default_context())
    async with KubeClient(config) as kube:
        with pytest.raises(UnreachableError, match=f"API server https://127.0.0.1:{port} is unreachable"):
            await kube.get("/api/v1/namespaces/default/pods")
        with pytest.raises(UnreachableError):
            async for _ in kube.watch("/api/v1/namespaces/default/pods"):
                pass
