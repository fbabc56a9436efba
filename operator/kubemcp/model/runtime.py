"""The runtime seam: how a backend server is started and reached."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from kubemcp.model.link import BackendLink
from kubemcp.model.spec import ServerSpec


class Runtime(Protocol):
    """Starts one instance of a server and yields a link to it; leaving the context stops it."""

    name: str

    def connect(self, spec: ServerSpec) -> AbstractAsyncContextManager[BackendLink]: ...
