"""Host and Origin checks (DNS-rebinding protection), as pure decisions."""

from __future__ import annotations

import pytest
from kubemcp.gateway.security import HostOriginGuard


async def _app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("not reached in these tests")


def _guard(
    bind: str = "127.0.0.1", hosts: list[str] | None = None, origins: list[str] | None = None
) -> HostOriginGuard:
    return HostOriginGuard(_app, bind_host=bind, allowed_hosts=hosts or [], allowed_origins=origins or [])


@pytest.mark.parametrize("host", ["127.0.0.1:8811", "localhost:8811", "localhost", "[::1]:8811", "127.0.0.2:1"])
def test_loopback_binding_accepts_loopback_hosts(host: str) -> None:
    assert _guard().host_ok(host)


@pytest.mark.parametrize("host", ["evil.example:8811", "evil.example", "10.0.0.1:8811", None])
def test_loopback_binding_rejects_other_hosts(host: str | None) -> None:
    assert not _guard().host_ok(host)


def test_cluster_binding_accepts_any_host_unless_listed() -> None:
    assert _guard("0.0.0.0").host_ok("kubemcp.default.svc:8811")
    listed = _guard("0.0.0.0", hosts=["kubemcp.default.svc:*"])
    assert listed.host_ok("kubemcp.default.svc:8811")
    assert not listed.host_ok("evil.example:8811")


def test_origins() -> None:
    guard = _guard(origins=["https://app.example"])
    assert guard.origin_ok(None)
    assert guard.origin_ok("http://localhost:6274")
    assert guard.origin_ok("http://127.0.0.1")
    assert guard.origin_ok("https://app.example")
    assert not guard.origin_ok("https://evil.example")
    assert not guard.origin_ok("null")
