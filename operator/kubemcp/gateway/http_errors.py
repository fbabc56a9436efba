"""Every HTTP error the gateway answers carries a JSON-RPC error body, whoever produced it.

The SDK's transports and Starlette answer some refusals in plain text ("Invalid Content-Type header",
"Could not find session", "Method Not Allowed", ...). This middleware rewrites any error response
(status 400 and up) whose body is not JSON into `{"jsonrpc": "2.0", "id": null, "error": {...}}`
with the original text as the message, keeping the status and the other headers.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import mcp_types as types
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def error_body(code: int, message: str, request_id: str | int | None = None) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}).encode()


def error_code_for(status: int) -> int:
    return types.INTERNAL_ERROR if status >= 500 else types.INVALID_REQUEST


async def send_error(
    send: Send, status: int, message: str, *, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A complete JSON-RPC error response (for code that writes ASGI messages itself)."""
    body = error_body(error_code_for(status), message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.split(b";")[0].strip().lower() in (b"application/json", b"text/event-stream")
    return False


class JsonRpcErrorBodies:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] | None = None
        text: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if message["status"] >= 400 and not _is_json(headers):
                    start = dict(message)
                    return
            elif message["type"] == "http.response.body" and start is not None:
                text.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                await _send_rewritten(send, start, b"".join(text))
                return
            await send(message)

        await self.app(scope, receive, rewrite)


async def _send_rewritten(send: Send, start: dict[str, Any], original: bytes) -> None:
    status: int = start["status"]
    message = original.decode("utf-8", errors="replace").strip() or _reason(status)
    body = error_body(error_code_for(status), message)
    kept = [
        (name, value)
        for name, value in start.get("headers", [])
        if name.lower() not in (b"content-type", b"content-length", b"transfer-encoding")
    ]
    headers = [*kept, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
