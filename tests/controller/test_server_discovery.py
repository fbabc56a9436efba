"""Discovery bookkeeping: one run per server, backoff per digest, reasons, and what status records."""

from __future__ import annotations

import asyncio

import mcp_types as types
import pytest
from controller.objects import catalog, server
from kubemcp.backend.offerings import Offerings
from kubemcp.controller.resolve import resolve
from kubemcp.controller.server_discovery import DiscoveryTasks, discovery_status, failure_reason, once, summary

pytestmark = pytest.mark.anyio


def test_running_once_keeps_the_digest_whatever_the_lifecycle() -> None:
    resolved = resolve(server("dice", lifecycle="longLived", warmPool=3, perCallKind="Job"), catalog())
    single = once(resolved.spec)
    assert single.digest == resolved.spec.digest
    assert single.lifecycle == "perCall"
    assert single.entry.kubernetes is not None
    assert (single.entry.kubernetes.warm_pool, single.entry.kubernetes.per_call_kind) == (0, "Pod")


def test_status_records_everything_listed_in_wire_form() -> None:
    found = Offerings(
        tools=[types.Tool(name="roll", input_schema={"type": "object"})],
        prompts=[types.Prompt(name="initiative")],
        resource_templates=[types.ResourceTemplate(name="die", uri_template="dice://{sides}")],
    )
    status = discovery_status(found, "abc", "2026-01-01T00:00:00Z")
    assert status == {
        "digest": "abc",
        "discoveredAt": "2026-01-01T00:00:00Z",
        "tools": [{"name": "roll", "inputSchema": {"type": "object"}}],
        "prompts": [{"name": "initiative"}],
        "resources": [],
        "resourceTemplates": [{"name": "die", "uriTemplate": "dice://{sides}"}],
    }
    assert summary(status) == "1 tool, 1 prompt, 1 resource"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("pod p cannot start: CreateContainerConfigError: secret x not found", "CreateContainerConfigError"),
        ("pod p cannot start: ErrImageNeverPull: image not present", "ErrImageNeverPull"),
        ("pod p did not start within 120s", "Timeout"),
        ("MCP handshake failed: connection closed", "DiscoveryFailed"),
    ],
)
def test_failure_reasons(message: str, reason: str) -> None:
    assert failure_reason(message) == reason


def test_backoff_grows_per_digest_and_resets(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("kubemcp.controller.server_discovery.time.monotonic", lambda: clock[0])
    tasks = DiscoveryTasks()
    key = ("team", "dice")
    assert tasks.due(key, "d1")
    delays = []
    for _ in range(7):
        failure = tasks.failed(key, "d1", "boom")
        delays.append(failure.retry_at - clock[0])
    assert delays == [10, 20, 40, 80, 160, 300, 300]
    assert not tasks.due(key, "d1")
    assert tasks.due(key, "d2")  # a new digest starts afresh
    clock[0] += 301
    assert tasks.due(key, "d1")
    tasks.succeeded(key)
    assert tasks.failure(key, "d1") is None


async def test_one_discovery_per_server_and_a_new_digest_cancels_the_old() -> None:
    tasks = DiscoveryTasks()
    key = ("team", "dice")
    started = asyncio.Event()
    cancelled = []

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append("d1")
            raise

    tasks.start(key, "d1", slow)
    await started.wait()
    assert tasks.is_running(key, "d1")
    assert not tasks.due(key, "d1")
    finished = asyncio.Event()

    async def quick() -> None:
        finished.set()

    tasks.start(key, "d2", quick)
    await finished.wait()
    await asyncio.sleep(0)
    assert cancelled == ["d1"]
    await tasks.close()
    assert tasks.running == {}
