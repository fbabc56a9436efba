"""The seam to the API server: the operations kubemcp uses, as typed protocols.

`KubeClient` is the real implementation; tests' in-memory fake implements the same protocols,
so the type checker sees any drift between them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from anyio.abc import ByteReceiveStream, ByteSendStream

Obj = dict[str, Any]


class AttachedStreams(Protocol):
    """One `pods/attach` stream: the container's stdout and stdin, and what it said about its end."""

    @property
    def stdout(self) -> ByteReceiveStream: ...

    @property
    def stdin(self) -> ByteSendStream: ...

    def describe(self) -> str: ...

    async def close_stdin(self) -> None: ...


class KubeApi(Protocol):
    """Object operations: what the operator's reconcilers use."""

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Obj: ...

    async def list(self, path: str, *, label_selector: str | None = None, field_selector: str | None = None) -> Obj: ...

    async def create(self, path: str, body: Obj) -> Obj: ...

    async def replace(self, path: str, body: Obj) -> Obj: ...

    async def patch(self, path: str, body: Any, *, kind: str = "merge") -> Obj: ...

    async def apply(self, path: str, body: Obj, *, manager: str = "kubemcp", force: bool = True) -> Obj: ...

    async def delete(
        self, path: str, *, grace_seconds: int | None = None, propagation: str = "Background"
    ) -> Obj | None: ...


class KubePodApi(KubeApi, Protocol):
    """Object operations plus watches and `pods/attach`: what running servers in Pods needs."""

    def watch(
        self,
        path: str,
        *,
        resource_version: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 60,
    ) -> AsyncIterator[Obj]: ...

    def attach(self, namespace: str, pod: str, container: str) -> AbstractAsyncContextManager[AttachedStreams]: ...
