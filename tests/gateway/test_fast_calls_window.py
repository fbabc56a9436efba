"""The fast tools/call path answers as the SDK's SSE mode does: JSON within the SDK's window, else an event
stream committed when the window elapses, kept alive with pings, ending with the answer's event."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from kubemcp.gateway import fast_calls
from mcp.server._streamable_http_modern import _SSE_HEADERS, _sse_event
from mcp_types import JSONRPCResponse
from starlette.types import Message

pytestmark = pytest.mark.anyio

SCOPE: dict[str, Any] = {"type": "http", "method": "POST", "path": "/mcp", "headers": []}
ANSWER = JSONRPCResponse(jsonrpc="2.0", id=7, result={"content": [{"type": "text", "text": "ünïcode"}]})
PING = {"type": "http.response.body", "body": b": ping\r\n\r\n", "more_body": True}


async def _receive() -> Message:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


async def test_a_call_past_the_window_streams_pings_then_its_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_calls, "_SSE_PING_INTERVAL", 0.02)
    sent: list[Message] = []
    two_pings = anyio.Event()

    async def send(message: Message) -> None:
        sent.append(message)
        if sent.count(PING) >= 2:
            two_pings.set()

    async def answer() -> JSONRPCResponse:
        await two_pings.wait()
        return ANSWER

    with anyio.fail_after(10):
        await fast_calls._answer_in_sse_window(answer(), SCOPE, _receive, send)
    assert sent[0] == {"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS}
    assert sent[1:-1] == [PING] * (len(sent) - 2)
    assert sent[-1] == {"type": "http.response.body", "body": _sse_event(ANSWER), "more_body": False}


async def test_a_call_within_the_window_is_answered_with_json() -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def answer() -> JSONRPCResponse:
        return ANSWER

    with anyio.fail_after(10):
        await fast_calls._answer_in_sse_window(answer(), SCOPE, _receive, send)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 200
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    body = b"".join(message.get("body", b"") for message in sent[1:])
    assert body == b'{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"\\u00fcn\\u00efcode"}]}}'
