"""Answer a POST whose body is not one JSON-RPC message with a JSON-RPC error before a transport sees it."""

from __future__ import annotations

import json

import mcp_types as types
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class JsonRpcBodyCheck:
    """HTTP 400 with -32700 for a body that is not JSON, -32600 for JSON that is not a message;
    413 for a body over the limit. Everything else reaches the wrapped app unchanged."""

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
                await Response("Request body too large", status_code=413)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = jsonrpc_problem(body)
        if problem is not None:
            code, text = problem
            error = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": text}}
            await JSONResponse(error, status_code=400)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def jsonrpc_problem(body: bytes) -> tuple[int, str] | None:
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return types.PARSE_ERROR, "Parse error: the body is not JSON"
    if isinstance(message, dict) and message.get("jsonrpc") == "2.0":
        if isinstance(message.get("method"), str):
            return None
        if "id" in message and ("result" in message or "error" in message):
            return None
    return types.INVALID_REQUEST, "Invalid Request: the body must be one JSON-RPC 2.0 message object"
