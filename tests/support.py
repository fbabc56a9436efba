"""Helpers shared by the tests: catalogs, peers, gateway processes, /proc checks."""

from __future__ import annotations

import json
import os
import re
import resource
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
import yaml
from mcp.client import Client, Transport
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
CHART = REPO / "charts" / "kubemcp"
PROBE = TESTS / "peers" / "probe_server.py"
NODE_MODULES = TESTS / "node" / "node_modules"
KUBEMCP = Path(sys.executable).parent / "kubemcp"
# The headers of an MCP POST over streamable HTTP made by hand.
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def probe_entry(name: str = "probe", **extra: Any) -> dict[str, Any]:
    """A catalog entry running the test probe server as a local process."""
    entry: dict[str, Any] = {
        "description": f"test probe {name}",
        "image": "kubemcp/test-probe:latest",
        "process": {"command": [sys.executable, str(PROBE), name]},
    }
    entry.update(extra)
    return entry


def node_peer(package: str, script: str) -> str:
    path = NODE_MODULES / package / script
    if not path.is_file():
        pytest.fail(f"{path} is missing: install the test peers with 'make setup' (npm ci in tests/node)")
    return str(path)


def everything_entry(**extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "description": "@modelcontextprotocol/server-everything",
        "process": {
            "command": ["node", node_peer("@modelcontextprotocol/server-everything", "dist/index.js"), "stdio"]
        },
    }
    entry.update(extra)
    return entry


def memory_entry(memory_file: Path, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "description": "@modelcontextprotocol/server-memory",
        "process": {"command": ["node", node_peer("@modelcontextprotocol/server-memory", "dist/index.js")]},
        "env": [{"name": "MEMORY_FILE_PATH", "value": str(memory_file)}],
    }
    entry.update(extra)
    return entry


def time_entry(**extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "description": "mcp-server-time from PyPI",
        "process": {"command": [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"]},
    }
    entry.update(extra)
    return entry


def stop_process(process: subprocess.Popen[Any]) -> None:
    """End a child process by its PID: SIGTERM, then SIGKILL if it is still there after 10 s."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def free_ports(n: int) -> list[int]:
    """`n` distinct free TCP ports on loopback."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def stdio_gateway(catalog: Path, root: Path) -> subprocess.Popen[bytes]:
    """A `kubemcp gateway run` over stdio (pipes for stdin and stdout), isolated under `root`."""
    return subprocess.Popen(
        [str(KUBEMCP), "gateway", "run", "--catalog", str(catalog)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **isolated_env(root)},
    )


def write_catalog(path: Path, entries: dict[str, dict[str, Any]], name: str = "test") -> Path:
    path.write_text(yaml.safe_dump({"version": 2, "name": name, "registry": entries}, sort_keys=False))
    return path


def write_tokens(path: Path, **tokens: str) -> Path:
    """A tokens file (`NAME=token` lines, 0600) for `--tokens-file`."""
    path.write_text("".join(f"{name}={token}\n" for name, token in tokens.items()))
    path.chmod(0o600)
    return path


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ui_sign_in(base: str, token: str, **headers: str) -> httpx2.Response:
    """The status page's sign-in form posted as a browser on the gateway's own page posts it."""
    sent = {"Origin": base, **headers}
    return httpx2.post(f"{base}/ui/login", data={"token": token}, headers=sent, timeout=10)


def ui_cookie(signed_in: httpx2.Response) -> dict[str, str]:
    """The `Cookie` header a browser sends to `/ui` after this sign-in."""
    found = [value for value in signed_in.headers.get_list("set-cookie") if value.startswith("kubemcp_ui=")]
    assert len(found) == 1, signed_in.headers
    return {"Cookie": found[0].partition(";")[0]}


@cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every test client: httpx builds a new one per client otherwise (about 60 ms
    of CPU, even for a plain-HTTP URL), which a load test of a thousand sessions pays a thousand times."""
    return ssl.create_default_context()


def streamable_http_with(url: str, headers: dict[str, str]) -> Transport:
    """The SDK's streamable HTTP transport sending `headers` with every request."""

    @asynccontextmanager
    async def connect() -> AsyncIterator[Any]:
        timeout = httpx2.Timeout(30, read=300)  # the SDK's own defaults
        async with (
            httpx2.AsyncClient(headers=headers, timeout=timeout, verify=_tls_context()) as http,
            streamable_http_client(url, http_client=http) as streams,
        ):
            yield streams

    return connect()


class GatewayProcess:
    """`kubemcp gateway run` as a real child process; stopped by its PID.

    An HTTP gateway requires a bearer token: unless the arguments configure authentication (or
    `own_tokens` is False), the gateway gets a tokens file with one random token, `token`;
    `headers` and `client()` carry it.
    """

    def __init__(
        self,
        args: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        *,
        own_tokens: bool = True,
        open_files: int | None = None,
    ) -> None:
        self.args = args
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.open_files = open_files  # RLIMIT_NOFILE (soft and hard) for the gateway, when set
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.token = ""
        configured = {"--tokens-file", "--tokens-dir", "--oauth-issuer", "--allow-unauthenticated"}
        if "--tokens-file" in args:
            path = Path(args[args.index("--tokens-file") + 1])
            self.token = next(iter(_tokens_in(path).values()), "")
        elif own_tokens and not configured.intersection(args) and _option(args, "--transport") not in (None, "stdio"):
            self.token = secrets.token_urlsafe(32)
            tokens = write_tokens(log_path.with_name(f"{log_path.stem}-tokens.env"), test=self.token)
            self.args = [*args, "--tokens-file", str(tokens)]

    @property
    def headers(self) -> dict[str, str]:
        """The `Authorization` header a client of this gateway sends (none when it needs none)."""
        return bearer(self.token) if self.token else {}

    def client(self, **options: Any) -> Client:
        """An SDK client of this gateway (streamable HTTP, or legacy SSE for an `/sse` URL), with its token."""
        if self.url.endswith("/sse"):
            return Client(sse_client(self.url, headers=self.headers), **{"mode": "legacy", **options})
        return Client(streamable_http_with(self.url, self.headers), **options)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 30.0) -> GatewayProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(KUBEMCP), "gateway", "run", *self.args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=self.env,
                preexec_fn=None if self.open_files is None else partial(_limit_files, self.open_files),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(r"serving MCP on (http://[^\s\"]+)", self.log)
            if match:
                self.url = match.group(1)
                return self
            if self.process.poll() is not None:
                raise AssertionError(f"gateway exited with {self.process.returncode}:\n{self.log}")
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"gateway did not start within {timeout}s:\n{self.log}")

    @property
    def base(self) -> str:
        return self.url.rsplit("/", 1)[0]

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RemoteServer:
    """`peers/remote_server.py` (or another peer `script` printing `listening on URL`) as a child process
    serving on loopback; stopped by its PID."""

    def __init__(self, transport: str, *options: str, script: str = "remote_server.py") -> None:
        self.args = [
            sys.executable,
            str(TESTS / "peers" / script),
            *([transport] if script == "remote_server.py" else []),
            *options,
        ]
        self.transport = transport
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> RemoteServer:
        self.process = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the server prints its URL once bound, before serving
        if not line.startswith("listening on "):
            self.stop()
            raise AssertionError(f"remote server did not start: {line!r}")
        self.url = line.removeprefix("listening on ").strip()
        return self

    def entry(self, **extra: Any) -> dict[str, Any]:
        """A catalog entry for this server."""
        remote = {"url": self.url, "transport_type": "sse" if self.transport == "sse" else "streamable-http"}
        return {"type": "remote", "description": f"remote server over {self.transport}", "remote": remote, **extra}

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> RemoteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def authorize_with_cli(server: str, catalog: Path | None, env: dict[str, str], *extra: str) -> str:
    """`kubemcp oauth authorize SERVER --no-browser`, with the test as the user: it opens the printed URL
    (the test authorization server consents at once) and follows the redirect to the loopback listener."""
    where = ["--catalog", str(catalog)] if catalog is not None else []
    command = [str(KUBEMCP), "oauth", "authorize", server, *where, "--no-browser", *extra]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
    assert process.stderr is not None
    shown: list[str] = []
    try:
        for line in process.stderr:
            shown.append(line)
            if line.startswith("http"):
                consent = httpx2.get(line.strip(), follow_redirects=False, timeout=30)
                assert consent.status_code == 302, consent.text
                assert httpx2.get(consent.headers["location"], timeout=30).status_code == 200
                break
        shown.append(process.stderr.read())
        assert process.wait(timeout=60) == 0, "".join(shown)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    return "".join(shown)


REAPER_SCRIPT = "reaper_process.py"  # the gateway's watchdog (kubemcp.runtimes.reaper), not a server


def _limit_files(count: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def _tokens_in(path: Path) -> dict[str, str]:
    pairs = (line.partition("=") for line in path.read_text().splitlines() if "=" in line)
    return {name.strip(): token.strip() for name, _, token in pairs}


def children_of(pid: int) -> list[int]:
    """Live server processes whose parent is `pid` (read from /proc); the gateway's reaper is not one."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z" and REAPER_SCRIPT.encode() not in cmdline:
            found.append(int(entry.name))
    return found


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def until(predicate: Any, timeout: float = 15.0) -> bool:
    """Poll `predicate` (bounded) until it holds; the final check's result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await anyio.sleep(0.05)
    return bool(predicate())


def tool_value(result: types.CallToolResult) -> Any:
    """A successful tool result's value: structured content (unwrapped), JSON text or plain text."""
    assert not result.is_error, result
    if result.structured_content is not None:
        structured = result.structured_content
        return structured.get("result", structured)
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return json.loads(block.text) if block.text[:1] in "[{" else block.text


def isolated_env(root: Path) -> dict[str, str]:
    """KUBEMCP_HOME and the cache under `root`, for gateways started outside a test's own fixtures."""
    (root / "home").mkdir(exist_ok=True)
    return {"KUBEMCP_HOME": str(root / "home"), "XDG_CACHE_HOME": str(root / "cache")}


@dataclass
class ShippedAndSdk:
    """Two gateways on the same files: `fast` as shipped, `sdk` with `--no-fast-path` (every answer through the
    MCP SDK's transport), to compare answer by answer."""

    fast: GatewayProcess
    sdk: GatewayProcess


@contextmanager
def shipped_and_sdk_gateways(
    root: Path, entries: dict[str, Any], tokens: dict[str, str], policy: str
) -> Iterator[ShippedAndSdk]:
    """Streamable HTTP gateways serving `entries` with these bearer tokens and authorization policy;
    stopped by PID after."""
    catalog = write_catalog(root / "catalog.yaml", entries)
    tokens_file = write_tokens(root / "tokens.env", **tokens)
    (root / "authz.yaml").write_text(policy)
    common = ["--transport", "streaming", "--port", "0", "--catalog", str(catalog), "--no-watch"]
    common += ["--tokens-file", str(tokens_file), "--authz", str(root / "authz.yaml")]
    env = isolated_env(root)
    with (
        GatewayProcess(common, root / "fast.log", env) as fast,
        GatewayProcess([*common, "--no-fast-path"], root / "sdk.log", env) as sdk,
    ):
        yield ShippedAndSdk(fast, sdk)


VARYING_HEADERS = {"date", "mcp-session-id"}  # what differs between two gateways' answers to the same request


async def open_2025_session(
    http: httpx2.AsyncClient, url: str, auth: dict[str, str], client_info: dict[str, str], version: str = "2025-11-25"
) -> dict[str, str]:
    """Initialize a 2025-era session with bare POSTs; the headers its further requests carry."""
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": client_info},
    }
    opened = await http.post(url, json=initialize, headers={**ACCEPT, **auth})
    headers = {**ACCEPT, **auth, "Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": version}
    await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return headers


def comparable(response: httpx2.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    """A response as another gateway's answer to the same request must match it: status, headers but the
    date and session id, body."""
    headers = [(name.lower(), value) for name, value in response.headers.items() if name.lower() not in VARYING_HEADERS]
    return response.status_code, headers, response.content


def audit_records(gateway: GatewayProcess) -> list[dict[str, Any]]:
    """The gateway's audit records but what differs between two processes: time, duration, the instance's
    pid, and the digests' key (each digest is replaced by the order in which it first appears)."""
    lines = [json.loads(line) for line in gateway.log.splitlines() if line.startswith('{"time"')]
    digests: dict[str, int] = {}
    records = []
    for line in lines:
        record = {k: v for k, v in line.items() if k not in ("time", "duration_ms", "instance")}
        for part in ("arguments", "result"):
            if isinstance(record.get(part), dict) and "digest" in record[part]:
                digest = record[part]["digest"]
                record[part] = {**record[part], "digest": digests.setdefault(digest, len(digests))}
        records.append(record)
    return records


@contextmanager
def http_and_sse_gateways(
    root: Path, catalog: Path, env: dict[str, str]
) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """Two gateways on one catalog: streamable HTTP (`/mcp`) and legacy SSE (`/sse`), which accept the same
    bearer token; stopped by PID after."""
    tokens = str(write_tokens(root / "tokens.env", test=secrets.token_urlsafe(32)))
    common = ["--port", "0", "--catalog", str(catalog), "--tokens-file", tokens]
    http = GatewayProcess(["--transport", "streaming", *common], root / "http.log", env)
    sse = GatewayProcess(["--transport", "sse", *common], root / "sse.log", env)
    try:
        http.start()
        sse.start()
        yield http, sse
    finally:
        sse.stop()
        http.stop()
