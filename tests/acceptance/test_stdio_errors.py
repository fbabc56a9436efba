"""Over stdio, a line that is not a valid JSON-RPC message is answered, never dropped silently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mcp_types as types
from support import probe_entry, stdio_gateway, write_catalog


def _exchange(tmp_path: Path, lines: list[bytes], replies: int) -> list[dict[str, Any]]:
    """Send `lines`, read `replies` answers, then end stdin (the end of stdin cancels what is still running)."""
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry(tools=[{"name": "echo"}])})
    process = stdio_gateway(catalog, tmp_path)
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        process.stdin.write(b"".join(line + b"\n" for line in lines))
        process.stdin.flush()
        answers = [json.loads(process.stdout.readline()) for _ in range(replies)]
        process.stdin.close()
        assert process.wait(timeout=30) == 0
        return answers
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None and not stream.closed:
                stream.close()


def test_bad_lines_get_parse_and_invalid_request_errors(tmp_path: Path) -> None:
    replies = _exchange(
        tmp_path,
        [
            b"this is not json",
            b"\xff\xfe garbage",
            b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}',
            b'{"jsonrpc": "2.0", "id": 2.5, "method": "ping"}',
            b'{"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": "x"}',
            b'{"jsonrpc": "2.0", "id": 4, "method": "ping"}',
        ],
        replies=6,
    )
    codes = [(reply.get("id"), reply["error"]["code"] if "error" in reply else "ok") for reply in replies]
    assert codes == [
        (None, types.PARSE_ERROR),
        (None, types.PARSE_ERROR),
        (None, types.INVALID_REQUEST),
        (None, types.INVALID_REQUEST),
        (3, types.INVALID_REQUEST),
        (4, "ok"),  # the session goes on serving
    ]
