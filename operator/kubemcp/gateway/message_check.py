"""Is this one valid JSON-RPC 2.0 message? The check every transport makes before the SDK sees a message,
so that nothing malformed is dropped silently: the SDK takes a request whose `id` is an object, a
float or a boolean for a notification and never answers it, and drops unparseable stdio lines."""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
from pydantic import ValidationError

RequestId = str | int


def valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def jsonrpc_problem(body: bytes | str) -> tuple[int, str, RequestId | None] | None:
    """(code, message, id to answer with) when `body` is not one valid JSON-RPC 2.0 message, else None."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return types.PARSE_ERROR, "Parse error: the message is not JSON", None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return types.INVALID_REQUEST, "Invalid Request: expected one JSON-RPC 2.0 message object", None
    has_id = "id" in message
    unknown_request = has_id and message["id"] is None and "error" in message and "method" not in message
    if has_id and not valid_id(message["id"]) and not unknown_request:
        return types.INVALID_REQUEST, "Invalid Request: 'id' must be a string or an integer", None
    request_id: RequestId | None = message["id"] if has_id else None
    if "method" in message:
        if not isinstance(message["method"], str):
            return types.INVALID_REQUEST, "Invalid Request: 'method' must be a string", request_id
    elif not (has_id and ("result" in message or "error" in message)):
        return types.INVALID_REQUEST, "Invalid Request: neither a request, a notification nor a response", None
    try:
        types.jsonrpc_message_adapter.validate_python(message, by_name=False)
    except ValidationError:
        return (
            types.INVALID_REQUEST,
            "Invalid Request: the message does not have the shape JSON-RPC 2.0 asks for",
            request_id,
        )
    return None
