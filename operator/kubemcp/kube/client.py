"""The Kubernetes API client: JSON requests, watches and `pods/attach`, over aiohttp.

This is the only module that talks to the API server; everything else goes through `KubeClient`.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream

from kubemcp.errors import KubemcpError
from kubemcp.kube.config import KubeConfig

logger = logging.getLogger(__name__)

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
ATTACH_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
Obj = dict[str, Any]


class KubeApiError(KubemcpError):
    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"Kubernetes API {status} {reason}: {message}")


class NotFoundError(KubeApiError):
    pass


class UnreachableError(KubeApiError):
    """No answer from the API server: the connection was refused, cut or timed out (it may be restarting)."""

    def __init__(self, server: str, exc: BaseException) -> None:
        detail = str(exc) or type(exc).__name__
        self.status = 0
        self.reason = "Unreachable"
        KubemcpError.__init__(self, f"the Kubernetes API server {server} is unreachable: {detail}")


# What aiohttp raises when the API server does not answer: refused, reset, cut midway or timed out.
_UNREACHABLE = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)


class ConflictError(KubeApiError):
    pass


class ForbiddenError(KubeApiError):
    pass


def _error(status: int, body: str) -> KubeApiError:
    try:
        data = json.loads(body)
        reason, message = str(data.get("reason", "")), str(data.get("message", body))
    except ValueError:
        reason, message = "", body[:500]
    kind = {404: NotFoundError, 409: ConflictError, 403: ForbiddenError}.get(status, KubeApiError)
    return kind(status, reason, message)


def path_for(api_version: str, plural: str, namespace: str | None = None, name: str | None = None) -> str:
    """`v1` + `pods` -> `/api/v1/namespaces/ns/pods/name`; `apps/v1` + ... -> `/apis/apps/v1/...`."""
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if namespace is not None:
        base += f"/namespaces/{quote(namespace)}"
    base += f"/{plural}"
    if name is not None:
        base += f"/{quote(name)}"
    return base


class KubeClient:
    """An async client for the API server. Use as `async with KubeClient(config) as kube:`."""

    def __init__(self, config: KubeConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> KubeClient:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.config.ssl_context, limit=64),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("KubeClient is not open (use 'async with')")
        return self._session

    def _headers(self, content_type: str = "application/json") -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        token = self.config.bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float = 30.0,  # noqa: ASYNC109 - a per-request HTTP timeout handed to aiohttp
    ) -> Obj:
        url = self.config.server + path + (f"?{urlencode(params)}" if params else "")
        data = None if body is None else json.dumps(body)
        try:
            async with self.session.request(
                method,
                url,
                data=data,
                headers=self._headers(content_type),
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                text = await response.text()
        except _UNREACHABLE as exc:
            raise UnreachableError(self.config.server, exc) from exc
        if response.status >= 400:
            raise _error(response.status, text)
        return json.loads(text) if text else {}

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Obj:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: Obj) -> Obj:
        return await self.request("POST", path, body=body)

    async def replace(self, path: str, body: Obj) -> Obj:
        return await self.request("PUT", path, body=body)

    async def patch(self, path: str, body: Any, *, kind: str = "merge") -> Obj:
        content = {
            "merge": "application/merge-patch+json",
            "json": "application/json-patch+json",
            "strategic": "application/strategic-merge-patch+json",
        }[kind]
        return await self.request("PATCH", path, body=body, content_type=content)

    async def apply(self, path: str, body: Obj, *, manager: str = "kubemcp", force: bool = True) -> Obj:
        """Server-side apply: level-based and idempotent."""
        params = {"fieldManager": manager, "force": str(force).lower()}
        return await self.request("PATCH", path, body=body, params=params, content_type="application/apply-patch+yaml")

    async def delete(
        self, path: str, *, grace_seconds: int | None = None, propagation: str = "Background"
    ) -> Obj | None:
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if grace_seconds is not None:
            body["gracePeriodSeconds"] = grace_seconds
        try:
            return await self.request("DELETE", path, body=body)
        except NotFoundError:
            return None

    async def list(self, path: str, *, label_selector: str | None = None, field_selector: str | None = None) -> Obj:
        params = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        return await self.get(path, params)

    async def watch(
        self,
        path: str,
        *,
        resource_version: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 60,
    ) -> AsyncIterator[Obj]:
        """Watch events (`{"type": ..., "object": ...}`) until the server ends the watch."""
        params = {"watch": "true", "timeoutSeconds": str(timeout_seconds), "allowWatchBookmarks": "true"}
        if resource_version:
            params["resourceVersion"] = resource_version
        if field_selector:
            params["fieldSelector"] = field_selector
        if label_selector:
            params["labelSelector"] = label_selector
        url = self.config.server + path + f"?{urlencode(params)}"
        try:
            async with self.session.get(
                url, headers=self._headers(), timeout=aiohttp.ClientTimeout(total=timeout_seconds + 15)
            ) as response:
                if response.status >= 400:
                    raise _error(response.status, await response.text())
                async for line in response.content:
                    if line.strip():
                        event: Obj = json.loads(line)
                        yield event
        except _UNREACHABLE as exc:
            raise UnreachableError(self.config.server, exc) from exc

    @asynccontextmanager
    async def attach(self, namespace: str, pod: str, container: str) -> AsyncIterator[AttachStream]:
        """`pods/attach` with stdin, stdout and stderr, as byte streams."""
        query = urlencode({"container": container, "stdin": "true", "stdout": "true", "stderr": "true", "tty": "false"})
        url = f"{self.config.server}{path_for('v1', 'pods', namespace, pod)}/attach?{query}"
        headers = {}
        token = self.config.bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            ws = await self.session.ws_connect(url, protocols=ATTACH_PROTOCOLS, headers=headers, heartbeat=30)
        except aiohttp.WSServerHandshakeError as exc:
            raise KubeApiError(exc.status, "AttachRefused", f"attach to {namespace}/{pod}: {exc.message}") from exc
        except _UNREACHABLE as exc:
            raise UnreachableError(self.config.server, exc) from exc
        stream = AttachStream(ws)
        try:
            yield stream
        finally:
            with anyio.CancelScope(shield=True):
                await ws.close()


class AttachStream:
    """One `pods/attach` WebSocket: stdout as a byte receive stream, stdin as a byte send stream."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.v5 = (ws.protocol or "").startswith("v5.")
        self.stderr_tail: deque[str] = deque(maxlen=20)
        self.status: Obj | None = None
        self.stdout = _Stdout(self)
        self.stdin = _Stdin(self)

    async def next_stdout(self) -> bytes:
        """The next stdout bytes; stderr and the status channel are collected on the way."""
        while True:
            message = await self.ws.receive()
            if message.type == aiohttp.WSMsgType.BINARY:
                data: bytes = message.data
                if not data:
                    continue
                channel, payload = data[0], data[1:]
                if channel == STDOUT and payload:
                    return payload
                if channel == STDERR and payload:
                    self.stderr_tail.extend(payload.decode(errors="replace").splitlines())
                elif channel == ERROR and payload:
                    try:
                        self.status = json.loads(payload)
                    except ValueError:
                        self.status = {"message": payload.decode(errors="replace")}
                continue
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                raise anyio.EndOfStream
            if message.type == aiohttp.WSMsgType.ERROR:
                raise anyio.BrokenResourceError(str(self.ws.exception()))

    async def close_stdin(self) -> None:
        await self.stdin.send_eof()

    def describe(self) -> str:
        parts = []
        if self.status and self.status.get("status") != "Success":
            parts.append(str(self.status.get("message") or self.status))
        last = "; ".join(line for line in self.stderr_tail if line.strip())[-600:]
        if last:
            parts.append(f"stderr: {last}")
        return "; ".join(parts) or "attach stream closed"


class _Stdout(ByteReceiveStream):
    def __init__(self, owner: AttachStream) -> None:
        self.owner = owner

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.owner.next_stdout()

    async def aclose(self) -> None:
        return None


class _Stdin(ByteSendStream):
    def __init__(self, owner: AttachStream) -> None:
        self.owner = owner

    async def send(self, item: bytes) -> None:
        try:
            await self.owner.ws.send_bytes(bytes([STDIN]) + item)
        except (ConnectionResetError, aiohttp.ClientError) as exc:
            raise anyio.BrokenResourceError(str(exc)) from exc

    async def send_eof(self) -> None:
        if self.owner.v5 and not self.owner.ws.closed:
            await self.owner.ws.send_bytes(bytes([CLOSE, STDIN]))

    async def aclose(self) -> None:
        await self.send_eof()
