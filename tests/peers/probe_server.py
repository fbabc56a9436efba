"""A test MCP server (stdio) whose tools expose what the gateway did to it.

`python probe_server.py [NAME]` serves tools `whoami`, `env`, `env_sha256`, `print_env`, `env_names`,
`crash`, `progress`, `log`, `sleep`, `spawn_and_sleep`, `cut_output`, `fetch`, `allocate`, `echo`,
`trace_meta` and, to test name collisions, `shared`.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import anyio
from mcp.server.mcpserver import Context, MCPServer

NAME = sys.argv[1] if len(sys.argv) > 1 else "probe"
server = MCPServer(NAME, version="1.0.0")
STARTED = time.time()


@server.tool()
def whoami() -> dict[str, object]:
    """This process's pid, parent pid, start time and host name (a Pod's name)."""
    return {
        "name": NAME,
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "started": STARTED,
        "hostname": socket.gethostname(),
    }


@server.tool()
def env(name: str) -> str:
    """The value of an environment variable, or '<unset>'."""
    return os.environ.get(name, "<unset>")


@server.tool()
def env_sha256(name: str) -> str:
    """The SHA-256 of an environment variable's UTF-8 value, or '<unset>': whether a value arrived exactly,
    without sending it back."""
    value = os.environb.get(name.encode())
    return "<unset>" if value is None else hashlib.sha256(value).hexdigest()


@server.tool()
def print_env(name: str) -> str:
    """Write an environment variable's value to standard error, as it is and as JSON (a server logging a secret)."""
    value = os.environ.get(name, "<unset>")
    sys.stderr.write(f"{name}={value}\n{json.dumps({name: value})}\n")
    sys.stderr.flush()
    return "printed"


@server.tool()
def env_names() -> list[str]:
    """The names of all environment variables this server received."""
    return sorted(os.environ)


@server.tool()
def crash(code: int = 3) -> str:
    """Exit the process at once, mid-request."""
    sys.stderr.write("probe: crashing on purpose\n")
    sys.stderr.flush()
    os._exit(code)


@server.tool()
async def progress(steps: int, ctx: Context) -> str:
    """Report `steps` progress notifications."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
    return f"done {steps}"


@server.tool()
async def log(message: str, ctx: Context) -> str:
    """Send a log notification to the client."""
    await ctx.info(message)
    return "logged"


@server.tool()
async def sleep(seconds: float, pidfile: str = "") -> str:
    """Sleep, so a call can be cancelled or overlap others; write this process's pid to `pidfile` first,
    and `<pidfile>.cancelled` if the call is cancelled."""
    if pidfile:
        Path(pidfile).write_text(str(os.getpid()))
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        if pidfile:
            Path(f"{pidfile}.cancelled").write_text(str(os.getpid()))
        raise
    return f"slept {seconds}"


@server.tool()
async def spawn_and_sleep(pidfile: str, seconds: float, detach: bool = False) -> str:
    """Start a child process (in a session of its own when `detach`), write 'SERVER_PID CHILD_PID' to
    `pidfile`, then sleep: a server whose work outlives it unless the gateway ends it."""
    child = subprocess.Popen(["sleep", str(seconds + 600)], start_new_session=detach)
    Path(pidfile).write_text(f"{os.getpid()} {child.pid}")
    await anyio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
async def cut_output(seconds: float = 600) -> str:
    """Close every descriptor of this process's output pipe mid-request and keep running: the connection
    is cut while the process lives. (The SDK's stdio transport writes to a duplicate of fd 1.)"""
    stderr_pipe = os.readlink("/proc/self/fd/2")
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
            flags = int(Path(f"/proc/self/fdinfo/{name}").read_text().split("flags:")[1].split()[0], 8)
        except (OSError, IndexError, ValueError):
            continue
        if target.startswith("pipe:") and target != stderr_pipe and flags & os.O_ACCMODE == os.O_WRONLY:
            os.close(int(name))
    await anyio.sleep(seconds)
    return "never answered"


@server.tool()
async def fetch(url: str, timeout: float = 3.0) -> dict[str, object]:
    """GET `url` from where the server runs: whether it could connect, and the status."""

    def get() -> dict[str, object]:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return {"ok": True, "status": response.status}
        except (OSError, ValueError) as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    return await anyio.to_thread.run_sync(get)


@server.tool()
def allocate(mib: int) -> str:
    """Allocate and touch `mib` MiB of memory, one MiB at a time (a server going beyond its memory limit)."""
    held = []
    for _ in range(mib):
        held.append(bytearray(b"x" * (1 << 20)))
    return f"allocated {len(held)} MiB"


@server.tool()
def echo(text: str) -> str:
    """Echo text back."""
    return text


@server.tool()
def trace_meta(ctx: Context) -> dict[str, object]:
    """The trace context in this request's `_meta`: what the gateway passed on."""
    meta = ctx.request_context.meta or {}
    return {key: value for key, value in meta.items() if key in ("traceparent", "tracestate")}


@server.tool()
def shared() -> str:
    """A tool name every probe instance offers."""
    return NAME


if __name__ == "__main__":
    server.run("stdio")
