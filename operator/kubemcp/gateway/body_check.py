"""Answer a POST whose body is not one valid JSON-RPC message with a JSON-RPC error before a transport sees it."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from kubemcp.gateway.asgi_replay import replaying, whole_body
from kubemcp.gateway.http_errors import send_error
from kubemcp.gateway.message_check import jsonrpc_problem


class JsonRpcBodyCheck:
    """HTTP 400 with -32700 for a body that is not JSON, -32600 for JSON that is not a valid message
    (an `id` that is not a string or an integer included: the SDK would take such a request for a
    notification and never answer it); 413 for a body over the limit. Everything else reaches the
    wrapped app unchanged."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await send_error(send, 413, f"Request body too large (the limit is {self.max_body_bytes} bytes)")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = jsonrpc_problem(body)
        if problem is not None:
            code, text, request_id = problem
            error = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": text}}
            await JSONResponse(error, status_code=400)(scope, receive, send)
            return
        await self.app(scope, replaying(whole_body(body), receive), send)
