"""Bad files: every bad edit of the catalog, registry.yaml, config.yaml and secrets.env while the gateway
runs (a fixed corpus plus random byte edits) must leave it serving; at start-up the same bytes must give
a one-line error."""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import anyio
import anyio.to_thread
from bad_files import SECRETS_EDITS, YAML_EDITS
from mcp.shared.exceptions import MCPError
from support import tool_value

from ..figures import Row
from ..harness import Gateway, probe
from ..settings import KUBEMCP, Scale

FILES = {
    "registry.yaml": "registry:\n  probe:\n    ref: ''\n",
    "config.yaml": "probe:\n  greeting: hello\n",
    "secrets.env": "probe.token=t0ken-value\n",
}


def _prepare(root: Path) -> tuple[Gateway, dict[str, Path]]:
    root.mkdir(parents=True, exist_ok=True)
    paths = {name: root / name for name in FILES}
    for name, text in FILES.items():
        paths[name].write_text(text)
    args = ["--registry", str(paths["registry.yaml"]), "--config", str(paths["config.yaml"])]
    args += ["--secrets", str(paths["secrets.env"]), "--watch-interval", "0.1"]
    gateway = Gateway(root, {"probe": probe(longLived=True)}, *args)
    paths["catalog.yaml"] = gateway.catalog
    return gateway, paths


def _reloads(gateway: Gateway) -> dict[str, int]:
    found: dict[str, int] = gateway.health()["reloads"]
    return found


async def _reload_seen(gateway: Gateway, before: dict[str, int], timeout: float = 20.0) -> dict[str, int] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = await anyio.to_thread.run_sync(_reloads, gateway)
        if sum(now.values()) > sum(before.values()):
            return now
        await anyio.sleep(0.05)
    return None


def _save(path: Path, data: bytes) -> None:
    """Replace the file in one step (written aside, then renamed over it), so that the first reload
    after it is a reload of these bytes. Saved in place (truncate, then write) the gateway's poll could
    see the empty file in between, and the check would take that reload for the edit's: the gateway
    keeps serving then (tests/gateway/test_core.py proves it), but the edit itself would go unchecked."""
    aside = path.with_name(f".{path.name}.saving")
    aside.write_bytes(data)
    os.replace(aside, path)


def _random_edit(data: bytes, rng: random.Random) -> bytes:
    while True:
        at = rng.randrange(len(data) + 1)
        kind = rng.choice(["insert", "replace", "delete", "truncate", "duplicate line", "noise"])
        if kind == "insert":
            edited = data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + data[at:]
        elif kind == "replace" and data:
            at = min(at, len(data) - 1)
            edited = data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
        elif kind == "delete":
            edited = data[:at] + data[at + rng.randint(1, 16) :]
        elif kind == "truncate":
            edited = data[:at]
        elif kind == "duplicate line":
            lines = data.splitlines(keepends=True)
            if not lines:
                continue
            pick = rng.randrange(len(lines))
            edited = b"".join([*lines[: pick + 1], lines[pick], *lines[pick + 1 :]])
        else:
            edited = bytes(rng.randrange(256) for _ in range(rng.randint(1, 512)))
        if edited != data:
            return edited


async def live_edits(root: Path, scale: Scale) -> list[Row]:
    corpus = Row("live edits: fixed corpus of bad bytes", "every edit logged and ignored; gateway keeps serving")
    fuzz = Row(f"live edits: {scale.random_edits} random byte edits", "every edit survived; gateway keeps serving")
    gateway, paths = _prepare(root)
    gateway.start()
    edits: list[tuple[Row, str, bytes, bool]] = []
    for name, path in paths.items():
        original = path.read_bytes()
        table = SECRETS_EDITS if name == "secrets.env" else YAML_EDITS
        edits += [(corpus, f"{name}: {edit}", table[edit](original), True) for edit in sorted(table)]
    rng = random.Random(12)
    names = sorted(paths)
    for _ in range(scale.random_edits):
        name = rng.choice(names)
        edits.append((fuzz, f"{name}: random", _random_edit(paths[name].read_bytes(), rng), False))
    originals = {name: path.read_bytes() for name, path in paths.items()}
    valid_edits = 0
    try:
        async with gateway.client(mode="legacy", read_timeout_seconds=60) as client:
            for number, (row, label, data, must_refuse) in enumerate(edits):
                name = label.split(":")[0]
                before = await anyio.to_thread.run_sync(_reloads, gateway)
                _save(paths[name], data)
                after = await _reload_seen(gateway, before)
                ok, problem = after is not None, f"{label}: no reload seen"
                if ok and after is not None and must_refuse and after["refused"] == before["refused"]:
                    ok, problem = False, f"{label}: accepted"
                # A random edit may be a valid file that serves something else (a renamed server, say):
                # applied, it may fail the call with a clear error; the gateway must still be serving.
                applied = after is not None and after["applied"] > before["applied"]
                valid_edits += applied
                started = time.perf_counter()
                try:
                    answer = tool_value(await client.call_tool("echo", {"text": str(number)}))
                    ok = ok and (answer == str(number) or applied) and gateway.alive()
                except MCPError as exc:
                    ok, problem = ok and applied and gateway.alive(), f"{label}: call failed: {exc}"
                except Exception as exc:
                    ok, problem = False, f"{label}: call failed: {exc}"
                row.latencies_ms.append((time.perf_counter() - started) * 1000)
                restore = await anyio.to_thread.run_sync(_reloads, gateway)
                _save(paths[name], originals[name])
                if await _reload_seen(gateway, restore) is None and ok:  # the next check would see this reload
                    ok, problem = False, f"{label}: restoring the file: no reload seen"
                row.attempt(ok, problem)
    finally:
        gateway.stop()
    for row in (corpus, fuzz):
        row.leftovers = gateway.leftovers()
    corpus.note(f"{corpus.tried} edits of 4 files")
    fuzz.note(f"{valid_edits} of them valid files, applied")
    if "Traceback" in gateway.log:
        corpus.problems.append("a traceback was logged")
        corpus.passed = min(corpus.passed, corpus.tried - 1)
    return [corpus, fuzz]


def start_up_errors(root: Path, scale: Scale) -> list[Row]:
    row = Row("bad files at start-up", "exit code 1 with a one-line error, no traceback")
    # Every edit of the catalog in the full run; a few of each of the other files (same parser).
    cases = [
        (name, edit, YAML_EDITS[edit])
        for name in ("catalog.yaml", "registry.yaml", "config.yaml")
        for edit in (sorted(YAML_EDITS) if scale.name == "full" and name == "catalog.yaml" else sorted(YAML_EDITS)[:3])
    ]
    secrets = sorted(SECRETS_EDITS) if scale.name == "full" else sorted(SECRETS_EDITS)[:2]
    cases += [("secrets.env", edit, SECRETS_EDITS[edit]) for edit in secrets]
    for number, (name, edit, change) in enumerate(cases):
        gateway, paths = _prepare(root / f"start-{number}")
        paths[name].write_bytes(change(paths[name].read_bytes()))
        started = time.perf_counter()
        run = subprocess.run(
            [str(KUBEMCP), "gateway", "run", *gateway.process.args],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            env=gateway.process.env,
        )
        row.latencies_ms.append((time.perf_counter() - started) * 1000)
        lines = run.stderr.strip().splitlines()
        ok = run.returncode == 1 and len(lines) == 1 and lines[0].startswith("kubemcp: error: ")
        ok = ok and "Traceback" not in run.stderr and "t0ken-value" not in run.stderr
        row.attempt(ok, f"{name}: {edit}: exit {run.returncode}: {run.stderr.strip()[:200]}")
    row.note("latency = time to the error exit")
    return [row]
