"""The official MCP Inspector CLI from npm, two generations, as real third-party clients of the gateway.

- `mcp-inspector --cli` is @modelcontextprotocol/inspector 2.12.0 (TypeScript SDK 2.x). For an ad-hoc
  target it negotiates the legacy handshake era unless told `--protocol-era auto`, which makes it
  use the stateless 2026-07-28 revision.
- `mcp-inspector-cli --cli` is @modelcontextprotocol/inspector-cli 1.0.3 (TypeScript SDK 1.x), which
  only knows the initialize handshake.

Each drives the gateway over streamable HTTP, legacy HTTP+SSE and stdio (the Inspector spawns
`kubemcp gateway run`), in front of mcp-server-time, server-everything, server-memory and the probe.
The version each generation negotiates is read off the wire: a recording TCP relay sits in front of
the HTTP gateways, and a line recorder between the Inspector and a stdio gateway.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from support import (
    KUBEMCP,
    NODE_MODULES,
    GatewayProcess,
    everything_entry,
    http_and_sse_gateways,
    isolated_env,
    memory_entry,
    probe_entry,
    time_entry,
    write_catalog,
)

pytestmark = pytest.mark.node

INSPECTOR_V2 = NODE_MODULES / ".bin" / "mcp-inspector"
INSPECTOR_V1 = NODE_MODULES / ".bin" / "mcp-inspector-cli"
# inspector-cli 1.0.3 finds its own package.json with `fs.existsSync("../package.json")`, which is
# resolved against the working directory, then imports that path relative to its module; from any
# other directory it fails with "Cannot find module .../@modelcontextprotocol/package.json".
# Its build directory is the one working directory where both resolve to the same file.
INSPECTOR_V1_CWD = NODE_MODULES / "@modelcontextprotocol" / "inspector-cli" / "build"
CLI_TIMEOUT = 90.0
ECHO_TEXT = "ünïcode ✓ kubemcp gateway"
LEGACY = "2025-11-25"
MODERN = "2026-07-28"

# Writes down every line a stdio MCP server and its client exchange: `recorder.py LOG COMMAND...`.
STDIO_RECORDER = """
import signal, subprocess, sys, threading

log = open(sys.argv[1], "ab", buffering=0)
child = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
signal.signal(signal.SIGTERM, lambda *_: child.terminate())


def to_child():
    for line in sys.stdin.buffer:
        log.write(b"> " + line)
        child.stdin.write(line)
        child.stdin.flush()
    child.stdin.close()


threading.Thread(target=to_child, daemon=True).start()
for line in child.stdout:
    log.write(b"< " + line)
    sys.stdout.buffer.write(line)
    sys.stdout.buffer.flush()
sys.exit(child.wait())
"""


@dataclass
class Gateways:
    catalog: Path
    env: dict[str, str]
    http: GatewayProcess
    sse: GatewayProcess


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateways]:
    root = tmp_path_factory.mktemp("inspector")
    catalog = write_catalog(
        root / "catalog.yaml",
        {
            "probe": probe_entry(),
            "time": time_entry(),
            "everything": everything_entry(longLived=True),
            "memory": memory_entry(root / "memory.jsonl"),
        },
    )
    env = isolated_env(root)
    with http_and_sse_gateways(root, catalog, env) as (http, sse):
        yield Gateways(catalog, env, http, sse)


# -- running the Inspector ----------------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    cwd: Path | None
    generation: str
    env: dict[str, str] | None = None

    def result(self, proc: subprocess.CompletedProcess[str]) -> Any:
        """The MCP result the CLI printed: v2 wraps it as {"result": ...} with --format json, v1 prints it bare."""
        assert proc.returncode == 0, f"{self.argv} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        try:
            printed = json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"{self.argv} printed no JSON:\n{proc.stdout}\n{proc.stderr}") from exc
        if self.generation == "v2":
            assert set(printed) == {"result"}, printed
            return printed["result"]
        return printed


def server_command(catalog: Path, generation: str, wrapper: list[str] | None = None) -> list[str]:
    command = [*(wrapper or []), str(KUBEMCP), "gateway", "run"]
    if generation == "v2":
        command += ["--transport", "stdio"]
    # For v1 the server command line cannot carry `--transport stdio`: its launcher parses the whole
    # command line with its own `--transport` option (and does not forward "stdio"), so the flag never
    # reaches kubemcp. stdio is `gateway run`'s default transport, which is what is being served here.
    return [*command, "--catalog", str(catalog)]


def inspector(
    generation: str,
    transport: str,
    method: list[str],
    *,
    url: str = "",
    catalog: Path | None = None,
    era: str | None = None,
    wrapper: list[str] | None = None,
    env: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Invocation:
    """An Inspector command line for one MCP method against a gateway URL or a spawned stdio gateway.

    `env` is added to the Inspector's environment, which a stdio gateway it spawns inherits;
    `headers` (the gateway's bearer token) go with every HTTP request.
    """
    header_args = [arg for key, value in (headers or {}).items() for arg in ("--header", f"{key}: {value}")]
    if generation == "v2":
        argv = [str(INSPECTOR_V2), "--cli", "--transport", transport, *method, "--format", "json"]
        if era is not None:
            argv += ["--protocol-era", era]
        if transport == "stdio":
            assert catalog is not None
            argv += ["--", *server_command(catalog, generation, wrapper)]
        else:
            argv += ["--server-url", url, *header_args]
        return Invocation(argv, None, generation, env)
    assert era is None, "inspector-cli 1.x has no protocol era to choose"
    # v1's launcher ignores --server-url in --cli mode ("missing required argument 'target'"):
    # the URL, or the server command, goes first as the target.
    if transport == "stdio":
        assert catalog is not None
        target = server_command(catalog, generation, wrapper)
    else:
        target = [url, "--transport", transport]
    argv = [str(INSPECTOR_V1), "--cli", *target, *method]
    if transport != "stdio":
        argv += header_args
    return Invocation(argv, INSPECTOR_V1_CWD, generation, env)


def run_all(*invocations: Invocation) -> list[Any]:
    """Run the invocations side by side; each one's printed MCP result, in order."""
    procs = [
        subprocess.Popen(
            inv.argv,
            cwd=inv.cwd,
            env=None if inv.env is None else {**os.environ, **inv.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for inv in invocations
    ]
    outputs: list[subprocess.CompletedProcess[str]] = []
    try:
        for inv, proc in zip(invocations, procs, strict=True):
            try:
                out, err = proc.communicate(timeout=CLI_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                raise AssertionError(f"{inv.argv} did not finish within {CLI_TIMEOUT}s:\n{out}\n{err}") from None
            outputs.append(subprocess.CompletedProcess(inv.argv, proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return [inv.result(out) for inv, out in zip(invocations, outputs, strict=True)]


def tools_call(name: str, *pairs: str) -> list[str]:
    return ["--method", "tools/call", "--tool-name", name, *(["--tool-arg", *pairs] if pairs else [])]


def only_text(result: dict[str, Any]) -> str:
    assert result.get("isError") is not True, result
    [block] = result["content"]
    assert block["type"] == "text", block
    text = block["text"]
    assert isinstance(text, str)
    return text


def target(gateways: Gateways, transport: str) -> dict[str, Any]:
    if transport == "http":
        return {"url": gateways.http.url, "headers": gateways.http.headers}
    if transport == "sse":
        return {"url": gateways.sse.url, "headers": gateways.sse.headers}
    # Spawned stdio gateways share the module's home and discovery cache: no rediscovery per run.
    return {"catalog": gateways.catalog, "env": gateways.env}


GENERATIONS_AND_TRANSPORTS = [(g, t) for g in ("v1", "v2") for t in ("http", "sse", "stdio")]


@pytest.mark.parametrize(("generation", "transport"), GENERATIONS_AND_TRANSPORTS)
def test_tools_list_and_call(gateways: Gateways, generation: str, transport: str) -> None:
    where = target(gateways, transport)
    listed, now, echoed, summed = run_all(
        inspector(generation, transport, ["--method", "tools/list"], **where),
        inspector(generation, transport, tools_call("get_current_time", "timezone=UTC"), **where),
        inspector(generation, transport, tools_call("probe__echo", f"text={ECHO_TEXT}"), **where),
        inspector(generation, transport, tools_call("get-sum", "a=2", "b=40"), **where),
    )

    tools = {tool["name"]: tool for tool in listed["tools"]}
    # mcp-server-time (PyPI), server-everything and server-memory (npm), and the probe, all on one endpoint.
    assert {"get_current_time", "convert_time", "get-sum", "read_graph", "create_entities", "whoami"} <= set(tools)
    assert {"probe__echo", "everything__echo"} <= set(tools)
    assert "echo" not in tools
    assert tools["get_current_time"]["inputSchema"]["required"] == ["timezone"]

    reported = json.loads(only_text(now))
    assert reported["timezone"] == "UTC"
    moment = datetime.fromisoformat(reported["datetime"])
    assert moment.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=5)

    assert only_text(echoed) == ECHO_TEXT
    assert only_text(summed) == "The sum of 2 and 40 is 42."


@pytest.mark.parametrize("generation", ["v1", "v2"])
def test_prompts_and_resources(gateways: Gateways, generation: str) -> None:
    where = target(gateways, "http")
    prompts, resources, prompt, read = run_all(
        inspector(generation, "http", ["--method", "prompts/list"], **where),
        inspector(generation, "http", ["--method", "resources/list"], **where),
        inspector(generation, "http", ["--method", "prompts/get", "--prompt-name", "simple-prompt"], **where),
        inspector(
            generation,
            "http",
            ["--method", "resources/read", "--uri", "demo://resource/static/document/features.md"],
            **where,
        ),
    )
    assert {"simple-prompt", "args-prompt"} <= {p["name"] for p in prompts["prompts"]}
    uris = {r["uri"] for r in resources["resources"]}
    assert "memory://knowledge-graph" in uris  # server-memory
    assert "demo://resource/static/document/features.md" in uris  # server-everything
    assert prompt["messages"], prompt
    assert prompt["messages"][0]["content"]["type"] == "text"
    [contents] = read["contents"]
    assert contents["uri"] == "demo://resource/static/document/features.md"
    assert contents["text"].strip(), contents


def test_memory_written_by_one_generation_is_read_by_the_other(gateways: Gateways) -> None:
    entity = {"name": "kubemcp-inspector", "entityType": "project", "observations": ["seen by both generations"]}
    [created] = run_all(
        inspector(
            "v2",
            "http",
            [
                "--method",
                "tools/call",
                "--tool-name",
                "create_entities",
                "--tool-args-json",
                json.dumps({"entities": [entity]}),
            ],
            **target(gateways, "http"),
        )
    )
    assert created.get("isError") is not True, created
    [graph] = run_all(inspector("v1", "sse", tools_call("read_graph"), **target(gateways, "sse")))
    assert entity in json.loads(only_text(graph))["entities"]


# -- the protocol version each generation negotiates ----------------------------------------------


class WireRecorder:
    """A loopback TCP relay in front of an HTTP gateway that keeps a copy of every byte each way."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sent = bytearray()
        self._received = bytearray()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst, sink in ((client, upstream, self._sent), (upstream, client, self._received)):
                pump = threading.Thread(target=self._pump, args=(src, dst, sink), daemon=True)
                pump.start()
                self._threads.append(pump)

    def _pump(self, src: socket.socket, dst: socket.socket, sink: bytearray) -> None:
        try:
            while chunk := src.recv(65536):
                with self._lock:
                    sink.extend(chunk)
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def transcript(self) -> tuple[str, str]:
        """(client to gateway, gateway to client)."""
        with self._lock:
            return self._sent.decode("utf-8", "replace"), self._received.decode("utf-8", "replace")

    def close(self) -> None:
        self._stopping.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            sock.close()
        self._acceptor.join(timeout=5)
        for pump in self._threads:
            pump.join(timeout=5)


def negotiated_version(sent: str, received: str) -> str:
    """The protocol version a client used, from what it sent and what it received.

    2026-07-28 has no handshake: every request carries the version in its `_meta` envelope.
    Earlier revisions agree on it in the initialize result.
    """
    enveloped: set[str] = set(re.findall(r'"io\.modelcontextprotocol/protocolVersion":"([^"]+)"', sent))
    if enveloped:
        assert len(enveloped) == 1, f"requests name different versions: {enveloped}"
        [version] = enveloped
        return version
    agreed: set[str] = set(re.findall(r'"protocolVersion":"([^"]+)"', received))
    assert len(agreed) == 1, f"no single initialize result in:\n{received[:2000]}"
    [version] = agreed
    return version


@pytest.mark.parametrize(
    ("generation", "era", "transport", "expected"),
    [
        ("v1", None, "http", LEGACY),
        ("v1", None, "sse", LEGACY),
        ("v1", None, "stdio", LEGACY),
        ("v2", None, "http", LEGACY),
        ("v2", None, "sse", LEGACY),
        ("v2", None, "stdio", LEGACY),
        ("v2", "auto", "http", MODERN),
        ("v2", "auto", "sse", MODERN),
        ("v2", "auto", "stdio", MODERN),
    ],
)
def test_negotiated_protocol_version(
    gateways: Gateways, tmp_path: Path, generation: str, era: str | None, transport: str, expected: str
) -> None:
    call = tools_call("get-sum", "a=2", "b=40")
    if transport == "stdio":
        recorder_script = tmp_path / "recorder.py"
        recorder_script.write_text(STDIO_RECORDER)
        wire_log = tmp_path / "wire.log"
        wrapper = [sys.executable, str(recorder_script), str(wire_log)]
        [summed] = run_all(inspector(generation, "stdio", call, era=era, wrapper=wrapper, **target(gateways, "stdio")))
        lines = wire_log.read_text(errors="replace").splitlines()
        sent = "\n".join(line[2:] for line in lines if line.startswith("> "))
        received = "\n".join(line[2:] for line in lines if line.startswith("< "))
        headers: set[str] = set()
    else:
        gateway = gateways.http if transport == "http" else gateways.sse
        parts = urlsplit(gateway.url)
        assert parts.port is not None
        relay = WireRecorder(parts.port)
        try:
            url = parts._replace(netloc=f"127.0.0.1:{relay.port}").geturl()
            [summed] = run_all(inspector(generation, transport, call, url=url, era=era, headers=gateway.headers))
        finally:
            relay.close()
        sent, received = relay.transcript()
        headers = {value.lower() for value in re.findall(r"(?im)^mcp-protocol-version:[ \t]*(\S+)", sent)}

    assert only_text(summed) == "The sum of 2 and 40 is 42."
    assert negotiated_version(sent, received) == expected
    # Over HTTP, every request after the negotiation names the version in its MCP-Protocol-Version header.
    assert headers <= {expected}
    if transport != "stdio":
        assert headers == {expected}
