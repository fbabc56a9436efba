"""Bad input: malformed bodies, odd ids, wrong headers, unknown paths and sessions over both HTTP
transports, and garbage lines over stdio; every one must be answered with a JSON-RPC error, and the
gateway must go on serving real clients."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx2
from support import KUBEMCP, bearer, isolated_env, tool_value, write_catalog

from ..figures import Row
from ..harness import Gateway, probe

ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
BODIES: dict[str, bytes] = {
    "not JSON": b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"',
    "empty body": b"",
    "binary": bytes(range(256)),
    "JSON array": b"[1, 2, 3]",
    "JSON string": b'"hello"',
    "object without jsonrpc": b'{"id": 1, "method": "ping"}',
    "id is an object": b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}',
    "id is a float": b'{"jsonrpc": "2.0", "id": 1.5, "method": "ping"}',
    "id is a boolean": b'{"jsonrpc": "2.0", "id": true, "method": "ping"}',
    "id is null": b'{"jsonrpc": "2.0", "id": null, "method": "ping"}',
    "method is a number": b'{"jsonrpc": "2.0", "id": 1, "method": 5}',
    "params is a string": b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": "x"}',
    "deeply nested": b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": '
    + b"[" * 100_000
    + b"]" * 100_000
    + b"}",
    "over the size limit": b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "'
    + b"x" * 5_000_000
    + b'"}}',
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bad", "version": "1"}},
}


def _is_jsonrpc_error(response: httpx2.Response) -> bool:
    if response.status_code < 400 or not response.headers.get("content-type", "").startswith("application/json"):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    if response.status_code == 401:  # authentication answers the OAuth way (RFC 6750): a challenge and its error
        challenge = response.headers.get("www-authenticate", "")
        return challenge.startswith("Bearer") and isinstance(body, dict) and isinstance(body.get("error"), str)
    return isinstance(body, dict) and body.get("jsonrpc") == "2.0" and isinstance(body.get("error"), dict)


def _requests(url: str, base: str, message_url: str | None) -> list[tuple[str, str, str, dict[str, str], bytes]]:
    """(label, method, url, headers, body) for every bad request."""
    target = message_url or url
    headers = {"Content-Type": "application/json"} if message_url else ACCEPT
    found = [(label, "POST", target, headers, body) for label, body in BODIES.items()]
    found += [
        (
            "wrong Content-Type",
            "POST",
            target,
            {**headers, "Content-Type": "text/plain"},
            json.dumps(INITIALIZE).encode(),
        ),
        ("unknown path", "GET", f"{base}/no-such-path", {}, b""),
        ("wrong method on /health", "POST", f"{base}/health", {}, b"{}"),
        ("foreign Host", "GET", f"{base}/health", {"Host": "evil.example"}, b""),
        ("foreign Origin", "POST", url, {**ACCEPT, "Origin": "http://evil.example"}, json.dumps(INITIALIZE).encode()),
        ("wrong bearer token", "POST", target, {**headers, **bearer("wrong")}, json.dumps(INITIALIZE).encode()),
        ("Authorization not Bearer", "POST", target, {**headers, "Authorization": "Basic Zm9vOmJhcg=="}, b"{}"),
    ]
    if message_url:
        found += [
            ("no session_id", "POST", f"{base}/message/", headers, json.dumps(INITIALIZE).encode()),
            (
                "unknown session",
                "POST",
                f"{base}/message/?session_id={'0' * 32}",
                headers,
                json.dumps(INITIALIZE).encode(),
            ),
        ]
    else:
        found += [
            ("unknown session", "POST", url, {**ACCEPT, "mcp-session-id": "nope"}, json.dumps(INITIALIZE).encode()),
            ("DELETE of an unknown session", "DELETE", url, {"mcp-session-id": "nope"}, b""),
        ]
    return found


async def _still_serving(gateway: Gateway, transport: str) -> bool:
    async with gateway.client() as client:
        return bool(tool_value(await client.call_tool("echo", {"text": "ok"})) == "ok")


async def http_inputs(root: Path, transport: str) -> list[Row]:
    row = Row(
        f"bad HTTP input ({'legacy SSE' if transport == 'sse' else 'streamable HTTP'})",
        "a JSON-RPC error for each (401: a Bearer challenge); still serving",
    )
    gateway = Gateway(root / transport, {"probe": probe()}, transport=transport).start()
    try:
        async with gateway.http(timeout=60) as http:
            message_url = None
            if transport == "sse":
                async with http.stream("GET", gateway.url, headers={"Accept": "text/event-stream"}) as stream:
                    events = httpx2.EventSource(stream).__aiter__()
                    endpoint = await anext(events)
                    message_url = urljoin(gateway.url, endpoint.data)
                    await _send_all(http, row, _requests(gateway.url, gateway.base, message_url))
            else:
                await _send_all(http, row, _requests(gateway.url, gateway.base, None))
        serving = await _still_serving(gateway, transport)
        row.attempt(serving and gateway.alive(), "not serving afterwards")
    finally:
        gateway.stop()
    row.leftovers = gateway.leftovers()
    return [row]


async def _send_all(
    http: httpx2.AsyncClient, row: Row, requests: list[tuple[str, str, str, dict[str, str], bytes]]
) -> None:
    for label, method, url, headers, body in requests:
        started = time.perf_counter()
        response = await http.request(method, url, headers=headers, content=body)
        row.latencies_ms.append((time.perf_counter() - started) * 1000)
        row.attempt(_is_jsonrpc_error(response), f"{label}: HTTP {response.status_code} {response.text[:100]!r}")


def stdio_inputs(root: Path) -> list[Row]:
    row = Row("bad stdio input", "-32700/-32600 answer for each line; still serving")
    root.mkdir(parents=True, exist_ok=True)
    catalog = write_catalog(root / "catalog.yaml", {"probe": probe()})
    lines = [
        b"not json",
        b"\xff\xfe\x00",
        b"[]",
        b"42",
        *[body for label, body in BODIES.items() if "limit" not in label and body],
    ]
    ping = b'{"jsonrpc": "2.0", "id": "last", "method": "ping"}'
    with subprocess.Popen(
        [str(KUBEMCP), "gateway", "run", "--catalog", str(catalog)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **isolated_env(root)},
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        started = time.perf_counter()
        process.stdin.write(b"".join(line.replace(b"\n", b" ") + b"\n" for line in [*lines, ping]))
        process.stdin.flush()
        answers: list[Any] = []
        watchdog = threading.Timer(60, process.kill)  # bounded: a gateway that stops answering is ended
        watchdog.start()
        try:
            # Read until the ping's answer (a line holding a carriage return is two lines to the stdio
            # transport, so there may be more answers than lines), or the end of the output.
            while not answers or answers[-1].get("id") != "last":
                raw = process.stdout.readline()
                if not raw:
                    break
                answers.append(json.loads(raw))
        finally:
            watchdog.cancel()
        row.latencies_ms.append((time.perf_counter() - started) * 1000)
        process.stdin.close()
        process.wait(timeout=30)
    errors = [answer for answer in answers if answer.get("id") != "last"]
    for answer in errors:
        row.attempt(answer.get("error", {}).get("code") in (-32700, -32600), f"answer {answer}")
    row.tried += max(0, len(lines) - len(errors))  # lines never answered count as failures
    row.attempt(any(answer.get("id") == "last" and "result" in answer for answer in answers), "ping not answered")
    row.note("latency = all lines answered")
    return [row]
