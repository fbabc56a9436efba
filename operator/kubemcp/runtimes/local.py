"""The embedded default: one runtime that picks, per entry, how to run it without a cluster.

The rule: an entry with a `process` form runs as a local process; otherwise an `image` entry runs
as a container on the local engine (Docker or Podman), and so do the tools of a `poci` entry.
`process:` entries never need an engine, so they keep working where there is none.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from kubemcp.errors import ServerUnavailableError
from kubemcp.model.link import BackendLink
from kubemcp.model.spec import ServerSpec
from kubemcp.runtimes.docker_engine import DockerEngineRuntime
from kubemcp.runtimes.local_process import LocalProcessRuntime
from kubemcp.runtimes.poci import PociRuntime


class LocalRuntime:
    name = "local"

    def __init__(self, engine: DockerEngineRuntime | None = None) -> None:
        self.processes = LocalProcessRuntime()
        self.engine = engine or DockerEngineRuntime()
        self.poci = PociRuntime(self.engine)

    def form(self, spec: ServerSpec) -> str:
        """Which form runs `spec` here: 'process', 'container', 'poci' or 'remote'."""
        entry = spec.entry
        if entry.type == "poci":
            return "poci"
        if entry.process is not None:
            return "process"
        if entry.type == "remote":
            return "remote"
        return "container"

    def connect(self, spec: ServerSpec) -> AbstractAsyncContextManager[BackendLink]:
        form = self.form(spec)
        if form == "process":
            return self.processes.connect(spec)
        if form == "container":
            return self.engine.connect(spec)
        if form == "poci":
            return self.poci.connect(spec)
        # Remote entries are connected by the remote runtime; this one only starts local servers.
        raise ServerUnavailableError(spec.name, "it is a remote server, which the local runtime does not connect to")

    async def aclose(self) -> None:
        try:
            await self.engine.aclose()
        finally:
            self.processes.close()  # lets the watchdog of the local server processes go
