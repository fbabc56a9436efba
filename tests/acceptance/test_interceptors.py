"""Interceptors around tools/call, for real: an exec interceptor (a script reading the call on stdin)
and an HTTP interceptor (a webhook server on loopback) that allow, deny and rewrite; a failing,
timing-out or malformed one fails the call closed. Set by flag and by the options file, which is
followed without a restart."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
import yaml
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from prometheus_client.parser import text_string_to_metric_families
from support import TESTS, GatewayProcess, probe_entry, tool_value, until, write_catalog

pytestmark = pytest.mark.anyio

INTERCEPTOR = TESTS / "peers" / "interceptor.py"


class Webhook:
    """An HTTP interceptor on loopback: rewrites the result of `rewritten by exec`, denies `deny-after`."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.seen.append(request)
                blocks = request.get("result", {}).get("content") or [{}]
                text = blocks[0].get("text")
                if text == "rewritten by exec":
                    new = "rewritten by exec, then by http"
                    answer: dict[str, Any] = {
                        "action": "rewrite",
                        "result": {"content": [{"type": "text", "text": new}], "structuredContent": {"result": new}},
                    }
                elif text == "deny-after":
                    answer = {"action": "deny", "message": "the webhook withholds this result"}
                elif text == "http-500":
                    self.send_response(500)
                    self.end_headers()
                    return
                else:
                    answer = {"action": "allow"}
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def _text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


async def _refused(client: Client, text: str) -> str:
    with pytest.raises(MCPError) as raised:
        await client.call_tool("echo", {"text": text})
    return raised.value.error.message


def _metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


async def test_exec_and_http_interceptors_allow_deny_rewrite_and_fail_closed(
    tmp_path: Path, gateway_process: Any, webhook: Webhook
) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry(longLived=True)})
    seen = tmp_path / "seen.jsonl"
    exec_hook = f"before:exec:{sys.executable} {INTERCEPTOR} {seen}"
    gateway: GatewayProcess = gateway_process(
        "--catalog", str(catalog), "--interceptor", exec_hook, "--interceptor", f"after:http:{webhook.url}"
    )
    async with gateway.client() as client:
        assert tool_value(await client.call_tool("echo", {"text": "plain"})) == "plain"  # both allow
        # before: rewrite the arguments; after: the webhook rewrites the result the server gave
        assert _text(await client.call_tool("echo", {"text": "rewrite-me"})) == "rewritten by exec, then by http"
        denied = await _refused(client, "forbidden")
        assert "denied by interceptor before:exec:" in denied
        assert "forbidden words are not allowed" in denied
        assert _text(await client.call_tool("echo", {"text": "short-circuit"})) == "answered by the interceptor"
        assert "the webhook withholds this result" in await _refused(client, "deny-after")
        # failing closed: a non-zero exit, an answer that is not JSON, an HTTP error
        failed = await _refused(client, "fail")
        assert "exited with code 3" in failed
        assert "the call was not made" in failed
        assert "is not JSON" in await _refused(client, "garbage")
        assert "answered HTTP 500; its result is withheld" in await _refused(client, "http-500")

    # What the hooks saw: the call (public name, server, tool, principal), and the result after it.
    requests = [json.loads(line) for line in seen.read_text().splitlines()]
    assert requests[0] == {
        "when": "before",
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "plain"}},
        "server": "probe",
        "tool": "echo",
        "principal": "token:test",
    }
    rewritten = next(r for r in webhook.seen if r["params"]["arguments"] == {"text": "rewritten by exec"})
    assert rewritten["when"] == "after"
    assert rewritten["result"]["content"][0]["text"] == "rewritten by exec"
    # a denied call has no after-hook; a call answered by a before-hook goes through the after-hooks
    assert not any(r["params"]["arguments"]["text"] == "forbidden" for r in webhook.seen)
    answered = next(r for r in webhook.seen if r["params"]["arguments"]["text"] == "short-circuit")
    assert answered["result"]["content"][0]["text"] == "answered by the interceptor"

    metrics = httpx2.get(f"{gateway.base}/metrics", headers=gateway.headers, timeout=10).text
    assert _metric(metrics, "kubemcp_tool_calls_total", server="probe", tool="echo", outcome="denied") == 2
    assert _metric(metrics, "kubemcp_interceptor_decisions_total", when="before", kind="exec", decision="rewrite") == 1
    assert _metric(metrics, "kubemcp_interceptor_decisions_total", when="after", kind="http", decision="fail") == 1
    audit = [json.loads(line) for line in gateway.log.splitlines() if line.startswith('{"time"')]
    denied_record = next(r for r in audit if r["outcome"] == "denied")
    assert denied_record["interceptors"][0].endswith(": deny")
    assert denied_record["error_code"] == -32003


async def test_options_file_sets_interceptors_with_a_timeout_and_is_followed_without_restart(
    tmp_path: Path, gateway_process: Any
) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry(longLived=True)})
    options = tmp_path / "gateway.yaml"
    hook = {"when": "before", "type": "exec", "target": f"{sys.executable} {INTERCEPTOR}", "timeoutSeconds": 2}
    options.write_text(yaml.safe_dump({"interceptors": [hook], "tools": ["echo", "whoami"]}))
    gateway: GatewayProcess = gateway_process(
        "--catalog", str(catalog), "--options", str(options), "--watch-interval", "0.2"
    )
    async with gateway.client() as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == {"echo", "whoami"}
        assert "no answer within 2s" in await _refused(client, "slow")
        assert "forbidden words" in await _refused(client, "forbidden")

        options.write_text(yaml.safe_dump({"tools": ["echo", "env"]}))  # no interceptors, other tools

        async def applied() -> bool:
            return {tool.name for tool in (await client.list_tools()).tools} == {"echo", "env"}

        assert await until_async(applied)
        assert tool_value(await client.call_tool("echo", {"text": "forbidden"})) == "forbidden"

        options.write_text("interceptors: [{when: sometimes, type: exec, target: x}]\n")  # bad: kept as it was
        assert await until(lambda: "not reloading, the files have errors" in gateway.log)
        assert "gateway.yaml:1" in gateway.log
        assert tool_value(await client.call_tool("echo", {"text": "forbidden"})) == "forbidden"

        blocker = tmp_path / "a-file"
        blocker.write_text("")
        options.write_text(yaml.safe_dump({"tools": ["whoami"], "audit": {"file": str(blocker / "audit.jsonl")}}))
        assert await until(lambda: "cannot open the audit file" in gateway.log)  # refused whole: nothing applied
        assert {tool.name for tool in (await client.list_tools()).tools} == {"echo", "env"}
        assert tool_value(await client.call_tool("echo", {"text": "still served"})) == "still served"


async def until_async(predicate: Any, timeout: float = 15.0) -> bool:
    import anyio

    with anyio.move_on_after(timeout):
        while not await predicate():
            await anyio.sleep(0.1)
        return True
    return bool(await predicate())


def test_bad_interceptor_flag_is_a_clear_error(tmp_path: Path) -> None:
    import subprocess

    from support import KUBEMCP

    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry()})
    for spec, expected in (
        ("during:exec:/bin/true", "WHEN is 'before' or 'after'"),
        ("before:docker:alpine", "TYPE is 'exec' or 'http'"),
        ("before:http:ftp://x", "http:// or https:// URL"),
        ("before:exec", "expected WHEN:TYPE:TARGET"),
    ):
        done = subprocess.run(
            [str(KUBEMCP), "gateway", "run", "--catalog", str(catalog), "--interceptor", spec, "--dry-run"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stderr
        assert expected in done.stderr
