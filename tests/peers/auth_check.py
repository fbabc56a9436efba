"""Ask a gateway for its tools with each of several credentials; prints what each got, as JSON.

    python auth_check.py URL '[{"name": "none", "token": null}, {"name": "alice", "token": "eyJ..."}]'

Each case is one stateless 2026-07-28 `tools/list` request: the HTTP status, and the tools listed.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import httpx2

META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "auth-check", "version": "1"},
}


def check(url: str, token: str | None) -> dict[str, Any]:
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/list",
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": META}}
    try:
        response = httpx2.post(url, json=body, headers=headers, timeout=httpx2.Timeout(30.0, connect=5.0))
    except httpx2.HTTPError as exc:  # not reached at all (a network policy, say)
        return {"status": None, "error": type(exc).__name__}
    found: dict[str, Any] = {"status": response.status_code, "tools": None}
    if response.status_code == 200:
        text = response.text
        payload = text if text.lstrip().startswith("{") else text.split("data:", 1)[1].split("\n\n", 1)[0]
        found["tools"] = sorted(tool["name"] for tool in json.loads(payload)["result"]["tools"])
    else:
        found["authenticate"] = response.headers.get("www-authenticate", "")
    return found


def main() -> None:
    url, cases = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps({case["name"]: check(url, case.get("token")) for case in cases}))


if __name__ == "__main__":
    main()
