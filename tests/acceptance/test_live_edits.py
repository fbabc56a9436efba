"""Bad edits of the catalog, config.yaml and secrets.env while the gateway runs: each is logged and
ignored, the gateway keeps serving what it served; the same bytes at start-up are a one-line error."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import KUBEMCP, probe_entry, tool_value, until

pytestmark = pytest.mark.anyio

# The edits the issue found fatal, plus a duplicate server name.
EDITS: list[tuple[str, bytes]] = [
    ("catalog.yaml", b"# caf\xff\n"),
    ("catalog.yaml", b"# \x00\n"),
    ("secrets.env", b"EXTRA=caf\xff\n"),
    ("config.yaml", b"# \x01\n"),
    ("catalog.yaml", b"  probe:\n    image: x/duplicate\n"),
]


def _files(root: Path) -> dict[str, Path]:
    catalog = {"version": 2, "name": "live", "registry": {"probe": probe_entry(tools=[{"name": "echo"}])}}
    files = {
        "catalog.yaml": yaml.safe_dump(catalog, sort_keys=False),
        "config.yaml": "probe:\n  greeting: hello\n",
        "secrets.env": "probe.token=t0ken-value\n",
    }
    paths = {}
    for name, text in files.items():
        paths[name] = root / name
        paths[name].write_text(text)
    return paths


def _args(paths: dict[str, Path]) -> list[str]:
    return [
        "--catalog",
        str(paths["catalog.yaml"]),
        "--config",
        str(paths["config.yaml"]),
        "--secrets",
        str(paths["secrets.env"]),
    ]


async def test_bad_live_edits_are_logged_and_ignored(gateway_process: Any, tmp_path: Path) -> None:
    paths = _files(tmp_path)
    gateway = gateway_process(*_args(paths), "--watch-interval", "0.1")
    assert gateway.process is not None
    async with gateway.client() as client:
        for number, (name, appended) in enumerate(EDITS, start=1):
            original = paths[name].read_bytes()
            paths[name].write_bytes(original + appended)
            assert await until(lambda n=number: gateway.log.count("not reloading") >= n), gateway.log
            assert gateway.process.poll() is None, gateway.log
            assert tool_value(await client.call_tool("echo", {"text": f"edit {number}"})) == f"edit {number}"
            paths[name].write_bytes(original)
    assert "Traceback" not in gateway.log
    assert "t0ken-value" not in gateway.log


async def test_a_save_in_progress_never_serves_an_empty_catalog(gateway_process: Any, tmp_path: Path) -> None:
    """Saved in place, a file is empty between its truncate and its write: a poll that sees it then
    keeps the catalog served, and the bytes written next are loaded."""
    paths = _files(tmp_path)
    gateway = gateway_process(*_args(paths), "--watch-interval", "0.1")
    registry = {name: probe_entry(name, tools=[{"name": "echo"}]) for name in ("probe", "second")}
    saved = yaml.safe_dump({"version": 2, "name": "live", "registry": registry}, sort_keys=False).encode()
    async with gateway.client() as client:
        paths["catalog.yaml"].write_bytes(b"")  # truncated, the write still to come
        assert await until(lambda: "taken as a save in progress" in gateway.log, timeout=60), gateway.log
        assert tool_value(await client.call_tool("echo", {"text": "still"})) == "still"
        paths["catalog.yaml"].write_bytes(saved)
        assert await until(lambda: "served servers changed: probe, second" in gateway.log, timeout=60), gateway.log
        assert tool_value(await client.call_tool("second__echo", {"text": "after"})) == "after"
    assert "served servers changed: (none)" not in gateway.log


@pytest.mark.parametrize(("name", "appended"), EDITS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(EDITS)])
def test_the_same_bytes_at_start_up_are_a_one_line_error(tmp_path: Path, name: str, appended: bytes) -> None:
    paths = _files(tmp_path)
    paths[name].write_bytes(paths[name].read_bytes() + appended)
    run = subprocess.run(
        [str(KUBEMCP), "gateway", "run", *_args(paths)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    [line] = run.stderr.strip().splitlines()
    assert line.startswith(f"kubemcp: error: {paths[name]}:"), line
    assert "t0ken-value" not in run.stderr
