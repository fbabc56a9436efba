"""The status page (`/ui`) in a real headless Chromium: servers and their state, tools, warm pools and
the recent calls with latency and outcome, rendered from the live gateway; a screenshot is taken
(`KUBEMCP_UPDATE_DOCS=1` writes it to docs/status-page.png for the README)."""

from __future__ import annotations

import json
import os
import shutil
import struct
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
from chromium import Chromium
from mcp.shared.exceptions import MCPError
from support import REPO, TESTS, GatewayProcess, probe_entry, tool_value, until, write_catalog

pytestmark = pytest.mark.anyio

LOADED = "document.body.dataset.loaded === 'true'"
ERROR = "document.getElementById('error').textContent"


def sign_in(token: str) -> str:
    """The sign-in page's form filled in and submitted, as a person would."""
    fill = f"document.getElementById('token').value = {json.dumps(token)}"
    return f"{fill}; document.getElementById('login').requestSubmit()"


async def test_status_page_in_chromium(tmp_path: Path, gateway_process: Any) -> None:
    catalog = write_catalog(
        tmp_path / "catalog.yaml",
        {
            "probe": probe_entry(longLived=True),
            "warm": probe_entry("warm", kubernetes={"warmPool": 2}),
            "cold": probe_entry("cold"),
            "broken": probe_entry("broken", env=[{"name": "X", "value": "{{broken.key|nosuchpipe}}"}]),
        },
    )
    hook = f"before:exec:{sys.executable} {TESTS / 'peers' / 'interceptor.py'}"
    gateway: GatewayProcess = gateway_process("--catalog", str(catalog), "--interceptor", hook)
    async with gateway.client() as client:
        assert tool_value(await client.call_tool("probe__echo", {"text": "hello"})) == "hello"
        assert tool_value(await client.call_tool("warm__whoami", {}))["name"] == "warm"
        with pytest.raises(MCPError):
            await client.call_tool("probe__echo", {"text": "forbidden"})  # denied by the interceptor
        with pytest.raises(MCPError):
            await client.call_tool("warm__crash", {})
        assert tool_value(await client.call_tool("cold__whoami", {}))["name"] == "cold"  # started for the call

    def warm_ready() -> bool:
        state = httpx2.get(f"{gateway.base}/ui/state", headers=gateway.headers, timeout=10).json()
        return any(s["name"] == "warm" and (s["warm"] or {}).get("ready") == 2 for s in state["servers"])

    assert await until(warm_ready, timeout=60)
    page = httpx2.get(f"{gateway.base}/ui", headers=gateway.headers, timeout=10)
    assert page.status_code == 200
    assert "script-src 'nonce-" in page.headers["content-security-policy"]
    assert "<script src" not in page.text  # no CDN, nothing fetched from anywhere else

    with Chromium(tmp_path / "chromium-profile") as browser:
        assert browser.navigate(f"{gateway.base}/ui") == 401  # behind the gateway's authentication: sign in
        assert browser.evaluate("document.querySelector('form#login input[type=password]').name") == "token"
        assert browser.evaluate(ERROR) == ""
        assert browser.leave(sign_in("wrong-token-0000000000000001")) == 401
        assert browser.evaluate(ERROR) == "Sign-in failed: the token is not valid."
        assert browser.leave(sign_in(gateway.token)) == 200  # 303 to /ui, now with the cookie
        assert browser.evaluate("location.pathname") == "/ui"
        browser.wait_for(LOADED)
        assert browser.evaluate("document.cookie") == ""  # HttpOnly: the page's script cannot read the token
        assert browser.evaluate("document.getElementById('principal').textContent") == "token:test"
        servers = browser.evaluate(
            "[...document.querySelectorAll('#servers tbody tr')].map(tr => "
            "({name: tr.dataset.server, state: tr.dataset.state, cells: [...tr.cells].map(td => td.textContent)}))"
        )
        by_name = {row["name"]: row for row in servers}
        assert set(by_name) == {"probe", "warm", "cold", "broken"}
        assert by_name["cold"]["state"] == "idle"  # per call: nothing runs between calls
        assert by_name["probe"]["state"] == "running"  # long-lived, started by the calls
        assert by_name["warm"]["state"] == "warm"
        assert by_name["broken"]["state"] == "refused"
        assert "nosuchpipe" in by_name["broken"]["cells"][4]  # why it is refused
        assert "echo" in by_name["probe"]["cells"][4]
        warm = browser.evaluate("[...document.querySelectorAll('#warm tbody tr')].map(tr => tr.textContent)")
        assert warm == ["warm2 / 2"]
        calls = browser.evaluate(
            "[...document.querySelectorAll('#recent tbody tr')].map(tr => "
            "({tool: tr.dataset.tool, outcome: tr.dataset.outcome, latency: tr.cells[5].textContent, "
            "phases: tr.cells[7].textContent}))"
        )
        assert [(c["tool"], c["outcome"]) for c in calls] == [
            ("cold__whoami", "ok"),
            ("warm__crash", "error"),
            ("probe__echo", "denied"),
            ("warm__whoami", "ok"),
            ("probe__echo", "ok"),
        ]
        assert all(c["latency"].endswith(" ms") for c in calls)
        assert calls[0]["phases"].startswith("spawned ")  # the cold start's phases
        assert "initialized " in calls[0]["phases"]
        badge = browser.evaluate("getComputedStyle(document.querySelector('#recent .badge.denied')).color")
        assert badge == "rgb(207, 34, 46)"  # styled: the page's own nonce'd stylesheet applied
        assert browser.evaluate("document.getElementById('runtime').textContent") == "local"
        shot = browser.screenshot(tmp_path / "status-page.png")
        assert browser.leave("location.reload()") == 200  # still signed in
        browser.wait_for(LOADED)
        assert browser.leave("document.querySelector('#signout button').click()") == 401
        assert browser.evaluate("document.querySelector('form#login') !== null")
        assert browser.navigate(f"{gateway.base}/ui") == 401  # the cookie is gone
        assert browser.leave(sign_in(gateway.token)) == 200
        browser.wait_for(LOADED)
        browser.send("Network.clearBrowserCookies")  # as when the sign-in expires: the next poll gets 401
        browser.wait_for("document.querySelector('form#login') !== null")  # the page shows the sign-in form
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", shot[16:24])
    assert width == 1280
    assert height > 400
    if os.environ.get("KUBEMCP_UPDATE_DOCS") == "1":
        shutil.copy(tmp_path / "status-page.png", REPO / "docs" / "status-page.png")
