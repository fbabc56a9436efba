"""The embedded runtime: each backend server instance is a local child process speaking stdio."""

from __future__ import annotations

import logging
import os
import signal
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import anyio
import anyio.lowlevel
from anyio.abc import Process

from kubemcp.errors import ServerUnavailableError
from kubemcp.masking import mask
from kubemcp.model.link import BackendLink, jsonrpc_streams
from kubemcp.model.spec import ServerSpec
from kubemcp.runtimes.reaper import ProcessReaper
from kubemcp.telemetry import calls

logger = logging.getLogger(__name__)

# Only these variables of the gateway's own environment reach a server: nothing else leaks into it.
INHERITED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SHELL", "TERM")
STDERR_TAIL_LINES = 20
STOP_GRACE_SECONDS = 2.0
EXIT_WAIT_SECONDS = 1.0
_GONE = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError)


class LocalProcessRuntime:
    """Runs servers as child processes, each in a process group of its own that ends with its call
    (or its idle timeout), and with the gateway however the gateway ends (see `reaper`)."""

    name = "local"

    def __init__(self) -> None:
        self.reaper = ProcessReaper()

    def close(self) -> None:
        self.reaper.close()

    def argv(self, spec: ServerSpec) -> tuple[list[str], str | None]:
        form = spec.entry.process
        if form is None:
            raise ServerUnavailableError(
                spec.name, "its catalog entry has no 'process.command', so it cannot run as a local process"
            )
        argv = spec.expand_list(form.command)
        cwd = spec.expand(form.cwd) if form.cwd else spec.source.directory
        if not Path(cwd).is_dir():
            raise ServerUnavailableError(spec.name, f"working directory {cwd} does not exist")
        return argv, cwd

    @asynccontextmanager
    async def connect(self, spec: ServerSpec) -> AsyncIterator[BackendLink]:
        argv, cwd = self.argv(spec)
        spec.check_config()
        env = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
        env.update(spec.environment())
        env.update(self.reaper.environment)
        try:
            process = await anyio.open_process(argv, env=env, cwd=cwd, start_new_session=True)
        except (OSError, ValueError) as exc:  # ValueError: e.g. a NUL in an argument or a config value
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ServerUnavailableError(
                spec.name, mask(f"cannot start {argv[0]!r}: {reason}", spec.secret_env.values())
            ) from exc
        calls.mark("spawned")
        self.reaper.watch(process.pid)  # its group: the process leads a new session
        assert process.stdin is not None
        assert process.stdout is not None
        tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        redact = list(spec.secret_env.values())

        async def collect_stderr() -> None:
            assert process.stderr is not None
            buffer = b""
            try:
                async for chunk in process.stderr:
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        text = mask(line.decode(errors="replace"), redact)
                        tail.append(text)
                        logger.debug("[%s] %s", spec.name, text)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                return

        async def describe_exit() -> str:
            with anyio.move_on_after(EXIT_WAIT_SECONDS):
                await process.wait()
            await anyio.lowlevel.checkpoint()  # let the stderr reader take the last lines
            code = process.returncode
            status = "is still running" if code is None else f"exited with code {code}"
            last = "; ".join(line for line in tail if line.strip())[-600:]
            return f"process {status}" + (f"; stderr: {last}" if last else "")

        logger.debug("started server %s (pid %d)", spec.name, process.pid)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(collect_stderr)
                async with jsonrpc_streams(process.stdout, process.stdin) as streams:
                    yield BackendLink(streams=streams, describe_exit=describe_exit, pid=process.pid)
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)
            self.reaper.forget(process.pid)
            logger.debug("stopped server %s (pid %d, code %s)", spec.name, process.pid, process.returncode)


async def _stop(process: Process) -> None:
    """Close stdin, give the server a moment, then end its whole process group."""
    if process.stdin is not None:
        with suppress(*_GONE):
            await process.stdin.aclose()
    with anyio.move_on_after(STOP_GRACE_SECONDS):
        await process.wait()
    if process.returncode is None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with suppress(*_GONE):
                os.killpg(process.pid, sig)
            with anyio.move_on_after(STOP_GRACE_SECONDS):
                await process.wait()
            if process.returncode is not None:
                break
    else:
        # The leader is gone; children it left in its group are ended too.
        with suppress(*_GONE):
            os.killpg(process.pid, signal.SIGKILL)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            with suppress(*_GONE):
                await stream.aclose()
