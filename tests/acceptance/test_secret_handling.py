"""Secrets end to end: values of any characters reach their server exactly from `kubemcp secret set`,
a secret set while the gateway runs is masked in its debug logs in every spelling, and a value the
gateway holds never goes out in a result or in arguments."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError
from support import KUBEMCP, probe_entry, tool_value, write_catalog

pytestmark = pytest.mark.anyio

VALUES = {
    "carriage.return": "REAL\rHIJACK",
    "line.separator": "one\u2028two\u2029three\x85four",
    "multi.line": "-----BEGIN-----\nline two\n\nline four\n",
    "quotes.spaces": "  \"double\" and 'single'  ",
    "unicode": "é ✓ 🔑 \u00a0",
    "backslashes": "C:\\new\\table \\n not a newline",
}


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _secret_set(home: Path, *args: str, stdin: bytes = b"") -> None:
    env = {**os.environ, "KUBEMCP_HOME": str(home)}
    run = subprocess.run([str(KUBEMCP), "secret", "set", *args], input=stdin, env=env, capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr


async def test_values_of_any_characters_reach_their_server_exactly(
    gateway_process: Any, tmp_path: Path, isolated_home: Path
) -> None:
    for number, (name, value) in enumerate(VALUES.items()):
        if number % 2:
            _secret_set(isolated_home, f"{name}={value}")
        else:
            _secret_set(isolated_home, name, stdin=(value + "\n").encode())
    refs = [{"name": name, "env": f"V{number}"} for number, name in enumerate(VALUES)]
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry(secrets=refs)})
    gateway = gateway_process("--catalog", str(catalog))
    with anyio.fail_after(120):
        async with gateway.client() as client:
            for number, value in enumerate(VALUES.values()):
                got = tool_value(await client.call_tool("env_sha256", {"name": f"V{number}"}))
                assert got == _digest(value), list(VALUES)[number]


async def _digest_of(client: Any, name: str) -> str | None:
    try:
        found: str = tool_value(await client.call_tool("env_sha256", {"name": name}))
    except MCPError:
        return None
    return found


LATE = 'late"pass\\wörd-' + "3b7f0c"


async def test_a_secret_set_while_running_is_masked_and_never_sent_back(
    gateway_process: Any, tmp_path: Path, isolated_home: Path
) -> None:
    refs = [{"name": "late.token", "env": "LATE_TOKEN"}]
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry(secrets=refs)})
    gateway = gateway_process("--catalog", str(catalog), "--debug", "--watch-interval", "0.2")
    _secret_set(isolated_home, f"late.token={LATE}")
    with anyio.fail_after(120):
        async with gateway.client() as client:
            # Until the gateway has read the new store, the server cannot start (its secret is missing).
            while await _digest_of(client, "LATE_TOKEN") != _digest(LATE):  # bounded by fail_after
                await anyio.sleep(0.2)
            # A server that writes its secret to stderr: the gateway logs that with --debug, masked.
            assert tool_value(await client.call_tool("print_env", {"name": "LATE_TOKEN"})) == "printed"
            sent_back = await client.call_tool("env", {"name": "LATE_TOKEN"})
            assert sent_back.is_error
            assert LATE not in sent_back.model_dump_json()
            with pytest.raises(MCPError) as refused:
                await client.call_tool("echo", {"text": f"the token is {LATE}"})
            assert refused.value.code == types.INVALID_PARAMS
            assert refused.value.data["reason"] == "secret_detected"
    log = gateway.log
    assert "[probe] LATE_TOKEN=***" in log
    assert '[probe] {"LATE_TOKEN": "***"}' in log  # the JSON-escaped spelling (quote, backslash, \u00f6)
    for spelling in (LATE, json.dumps(LATE)[1:-1], json.dumps(LATE, ensure_ascii=False)[1:-1], repr(LATE)[1:-1]):
        assert spelling not in log
