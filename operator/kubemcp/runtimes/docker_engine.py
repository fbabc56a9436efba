"""The container runtime of the embedded default: each server instance is a container on a local
Docker engine (or Podman's Docker-compatible API), speaking MCP on its stdio through the engine's
attach stream — as `docker run -i --rm --init` does, without the `docker` command.

Lifetime: the container is created with stdin open once (`StdinOnce`) and auto-removal; leaving
`connect` closes its stdin (the server sees end of input and exits), waits a moment, then kills
it. When the gateway itself dies, the attach stream closes, which closes the server's stdin too;
containers that outlive it anyway are removed by the next gateway's start-up sweep (they carry the
gateway's pid and host in their labels).

When no engine is reachable, each server that needs one fails its own calls with a message
saying so; nothing else is affected.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import aiodocker
import anyio
from aiodocker.containers import DockerContainer

from kubemcp.errors import ServerUnavailableError
from kubemcp.model.link import BackendLink, jsonrpc_streams
from kubemcp.model.spec import ServerSpec
from kubemcp.runtimes.container_config import server_body
from kubemcp.runtimes.engine_client import (
    AttachedContainer,
    describe_error,
    engine_address,
    open_engine,
    sweep,
)

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 2.0
RETRY_UNREACHABLE_SECONDS = 5.0


class EngineUnavailableError(ServerUnavailableError):
    pass


class DockerEngineRuntime:
    """Runs image entries as local containers. `network` is the engine network servers join unless
    their entry says `disableNetwork` (default: the engine's default network)."""

    name = "docker"

    def __init__(self, address: str | None = None, *, network: str | None = None, pull: bool = True) -> None:
        self.address = engine_address(address)
        self.network = network
        self.pull = pull
        self._client: aiodocker.Docker | None = None
        self._lock = anyio.Lock()
        self._failed: tuple[float, str] | None = None
        self._told: set[str] = set()

    async def client(self, server: str) -> aiodocker.Docker:
        """The engine client, opened (and swept) on first use; a clear error when there is no engine."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is not None:
                return self._client
            if self.address is None:
                raise EngineUnavailableError(
                    server,
                    "it runs as a container and no container engine was found (set DOCKER_HOST, or start Docker "
                    "or Podman's socket); entries with a 'process' form run without one",
                )
            if self._failed is not None and time.monotonic() - self._failed[0] < RETRY_UNREACHABLE_SECONDS:
                raise EngineUnavailableError(server, self._failed[1])
            try:
                client = await open_engine(self.address)
            except Exception as exc:
                message = (
                    f"it runs as a container and the container engine at {self.address} cannot be reached: "
                    f"{describe_error(exc)}"
                )
                self._failed = (time.monotonic(), message)
                raise EngineUnavailableError(server, message) from None
            self._failed = None
            try:
                await sweep(client)
            except aiodocker.DockerError as exc:
                logger.warning("could not sweep old server containers: %s", describe_error(exc))
            self._client = client
            return client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def _create(self, client: aiodocker.Docker, spec: ServerSpec, body: dict[str, Any]) -> DockerContainer:
        image = str(body["Image"])
        try:
            return await client.containers.create(body)
        except aiodocker.DockerError as exc:
            if exc.status != 404 or not self.pull:
                raise ServerUnavailableError(spec.name, f"cannot create its container: {describe_error(exc)}") from None
        logger.info("server %s: pulling image %s", spec.name, image)
        try:
            await client.images.pull(image)
            return await client.containers.create(body)
        except aiodocker.DockerError as exc:
            raise ServerUnavailableError(
                spec.name, f"image {image} is not on the engine and cannot be pulled: {describe_error(exc)}"
            ) from None

    async def start(self) -> None:
        """At the gateway's start: reach the engine if there is one, removing what dead gateways left."""
        if self.address is None:
            return
        with anyio.move_on_after(5):
            try:
                await self.client("")
            except ServerUnavailableError as exc:
                logger.info("%s", str(exc).removeprefix("server '': "))

    @asynccontextmanager
    async def connect(self, spec: ServerSpec) -> AsyncIterator[BackendLink]:
        body = server_body(spec, self.network)
        if spec.entry.allow_hosts and not spec.entry.disable_network and spec.name not in self._told:
            self._told.add(spec.name)
            logger.warning(
                "server %s: allowHosts is enforced in a cluster (NetworkPolicy); this local container is not "
                "limited to %s",
                spec.name,
                ", ".join(spec.entry.allow_hosts),
            )
        client = await self.client(spec.name)
        async with self.attached(client, spec, body) as attached:

            async def describe_exit() -> str:
                return await self._describe(attached)

            async with jsonrpc_streams(attached.stdout, attached.stdin) as streams:
                yield BackendLink(streams=streams, describe_exit=describe_exit)

    @asynccontextmanager
    async def attached(
        self, client: aiodocker.Docker, spec: ServerSpec, body: dict[str, Any]
    ) -> AsyncIterator[AttachedContainer]:
        """A created, attached and started container; stopped and removed on the way out."""
        started = time.perf_counter()
        container = await self._create(client, spec, body)
        try:
            stream = container.attach(stdin=True, stdout=True, stderr=True)
            try:
                await stream._init()
                attached = AttachedContainer(container, stream, list(spec.secret_env.values()), spec.name)
                await container.start()
            except aiodocker.DockerError as exc:
                raise ServerUnavailableError(spec.name, f"cannot start its container: {describe_error(exc)}") from None
            logger.debug(
                "server %s: container %s started in %.0f ms",
                spec.name,
                container.id[:12],
                (time.perf_counter() - started) * 1000,
            )
            try:
                yield attached
            finally:
                with anyio.CancelScope(shield=True):
                    await attached.close_stdin()
        finally:
            with anyio.CancelScope(shield=True):
                await self._stop(container)

    async def _stop(self, container: DockerContainer) -> None:
        """Wait briefly for the server to exit on its own, then kill it; auto-removal does the rest."""
        with anyio.move_on_after(STOP_GRACE_SECONDS), suppress(aiodocker.DockerError):
            await container.wait(condition="not-running")
        with suppress(aiodocker.DockerError):
            await container.delete(force=True)

    @staticmethod
    async def _describe(attached: AttachedContainer) -> str:
        code: int | None = None
        with anyio.move_on_after(1), suppress(aiodocker.DockerError):
            state = await attached.container.wait(condition="not-running")
            code = int(state.get("StatusCode", -1))
        status = "is still running" if code is None else f"exited with code {code}"
        stderr = attached.stderr()
        return f"container {status}" + (f"; stderr: {stderr}" if stderr else "")
