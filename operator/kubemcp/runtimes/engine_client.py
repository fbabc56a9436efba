"""Reaching a container engine through the Docker Engine API (aiodocker), and its attach streams.

Where the engine is: `DOCKER_HOST` when set, else the first socket that exists of
`/var/run/docker.sock`, `~/.docker/run/docker.sock` (Docker Desktop), `$XDG_RUNTIME_DIR/podman/podman.sock`
and `/run/podman/podman.sock` (Podman's Docker-compatible API).
"""

from __future__ import annotations

import logging
import os
import socket
from collections import deque
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import aiodocker
import anyio
from aiodocker.containers import DockerContainer
from aiodocker.stream import Stream
from anyio.abc import ByteReceiveStream, ByteSendStream

from kubemcp.masking import mask
from kubemcp.runtimes.container_config import LABEL_GATEWAY_HOST, LABEL_GATEWAY_PID, LABEL_MANAGED

logger = logging.getLogger(__name__)

STDERR_TAIL_LINES = 20


def engine_candidates() -> Iterator[str]:
    """Engine addresses to try, best first."""
    host = os.environ.get("DOCKER_HOST")
    if host:
        yield host
        return
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    paths = [Path("/var/run/docker.sock"), Path.home() / ".docker" / "run" / "docker.sock"]
    if runtime_dir:
        paths.append(Path(runtime_dir) / "podman" / "podman.sock")
    paths.append(Path("/run/podman/podman.sock"))
    for path in paths:
        if path.exists():
            yield f"unix://{path}"


def engine_address(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit
    return next(engine_candidates(), None)


async def open_engine(address: str) -> aiodocker.Docker:
    """A client of the engine at `address`, checked with a ping; raises OSError-like errors when unreachable."""
    client = aiodocker.Docker(url=address)
    try:
        with anyio.fail_after(10):
            await client.version()
    except BaseException:
        await client.close()
        raise
    return client


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def sweep(client: aiodocker.Docker) -> int:
    """Remove containers that gateways on this host left behind when they died; returns how many."""
    here = socket.gethostname()
    removed = 0
    containers = await client.containers.list(all=True, filters={"label": [f"{LABEL_MANAGED}=kubemcp"]})
    for container in containers:
        labels: dict[str, str] = container._container.get("Labels") or {}
        if labels.get(LABEL_GATEWAY_HOST) != here:
            continue
        try:
            pid = int(labels.get(LABEL_GATEWAY_PID, "0"))
        except ValueError:
            continue
        if pid and (pid == os.getpid() or _alive(pid)):
            continue
        with suppress(aiodocker.DockerError):
            await container.delete(force=True)
            removed += 1
    if removed:
        logger.info("removed %d server container(s) left by gateways that are gone", removed)
    return removed


class AttachedContainer:
    """A started container's attach stream: stdout as bytes, stderr collected (masked), stdin as bytes."""

    def __init__(self, container: DockerContainer, stream: Stream, redact: list[str], label: str) -> None:
        self.container = container
        self.stream = stream
        self.redact = redact
        self.label = label
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.stdout = _Stdout(self)
        self.stdin = _Stdin(self)
        self.exit_code: int | None = None
        self._stdin_closed = False

    async def next_stdout(self) -> bytes:
        while True:
            try:
                message = await self.stream.read_out()
            except (aiodocker.DockerError, OSError, RuntimeError) as exc:
                raise anyio.BrokenResourceError(str(exc)) from exc
            if message is None:
                raise anyio.EndOfStream
            if message.stream == 1 and message.data:
                return bytes(message.data)
            if message.stream == 2 and message.data:
                for line in bytes(message.data).decode(errors="replace").splitlines():
                    text = mask(line, self.redact)
                    self.stderr_tail.append(text)
                    logger.debug("[%s] %s", self.label, text)

    async def close_stdin(self) -> None:
        """End of input for the server (StdinOnce): the engine closes its stdin, and it exits."""
        if self._stdin_closed:
            return
        self._stdin_closed = True
        with suppress(Exception):
            await self.stream.close()

    def stderr(self) -> str:
        return "; ".join(line for line in self.stderr_tail if line.strip())[-600:]


class _Stdout(ByteReceiveStream):
    def __init__(self, owner: AttachedContainer) -> None:
        self.owner = owner

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.owner.next_stdout()

    async def aclose(self) -> None:
        return None


class _Stdin(ByteSendStream):
    def __init__(self, owner: AttachedContainer) -> None:
        self.owner = owner

    async def send(self, item: bytes) -> None:
        if self.owner._stdin_closed:
            raise anyio.ClosedResourceError
        try:
            await self.owner.stream.write_in(item)
        except (RuntimeError, OSError, aiodocker.DockerError) as exc:
            raise anyio.BrokenResourceError(str(exc)) from exc

    async def aclose(self) -> None:
        await self.owner.close_stdin()


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, aiodocker.DockerError):
        message: Any = exc.message
        return str(message.get("message", message) if isinstance(message, dict) else message)
    return str(exc) or type(exc).__name__
