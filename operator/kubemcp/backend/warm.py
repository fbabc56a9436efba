"""Warm per-call instances: started and MCP-initialized ahead of demand, each used for one call only.

A server with `warm: {min, max}` (or `kubernetes: {warmPool: N}`, a fixed N) keeps instances ready
(local processes or containers; on Kubernetes, Pods claimed from the operator's pool, or started, and
already attached). A call takes one, makes its single request, and the instance is stopped as after
any per-call request, so isolation between calls is unchanged while the start-up and handshake are
off the call's path. Taken instances are replaced in the background; an unused one is renewed after
`max_idle` seconds so it never outlives its Pod's deadline. How many are kept follows demand
(`warm_demand`): re-evaluated at each call and every `RESIZE_SECONDS`; surplus ready ones stop.

A warm call does no work but its own request: stopping the used instance and starting its replacement
(on Kubernetes: API requests, a Pod created or claimed, an attach, a handshake, all on the same CPUs
as the call's way through the API server and kubelet) begin `AFTER_CALL_SECONDS` after the answer,
when it is on its way back to the client. Only a miss resizes at once: the pool is short then.

A miss waits for an instance that is already starting rather than starting one more, as long as
more are starting than misses wait for them: the next one ready is handed to the first waiting call.
The waiting call gets an instance sooner than a start of its own would give it (the one it waits for
began earlier), and the node starts one instance per call instead of two (its own, and the pool's
replacement), which is what keeps a steady rate served warm up to what the node can start. A start
that fails sends its waiting call to start its own instance.

An instance is primed before it is ready: once the handshake is done, a server that offers tools is
asked for its tool listing. The client session checks a tool's result against the tool's output
schema and lists the tools first when it has not seen them, so without the listing every warm call
would make two requests to its instance (the call, then `tools/list`) where a long-lived instance's
calls make one. A listing is read-only for every server (it is what discovery asks too); a server
that refuses it is still used, as its call would have listed again. The session also compiles each
listed tool's output-schema validator then (it compiles one per session, at the first result it
checks: about a millisecond that a long-lived instance's calls pay once).
"""

from __future__ import annotations

import logging
from collections import deque
from contextlib import suppress

import anyio
import mcp_types as types
from anyio.abc import TaskGroup
from mcp.client import Client
from mcp.shared.exceptions import MCPError

from kubemcp.backend.relay import InstanceRelay
from kubemcp.backend.session import Sessions
from kubemcp.backend.warm_demand import WarmDemand
from kubemcp.errors import ServerError
from kubemcp.model.link import BackendLink
from kubemcp.model.spec import ServerSpec
from kubemcp.telemetry import calls

logger = logging.getLogger(__name__)

FAILURE_BACKOFF_SECONDS = 5.0
RESIZE_SECONDS = 1.0
AFTER_CALL_SECONDS = 0.05  # after a warm call's answer, before the pool stops and replaces its instance


class Prepared:
    """One ready instance waiting for its one call (prepared before its caller is known, it was told
    every client capability the gateway relays)."""

    def __init__(self, client: Client, link: BackendLink, relay: InstanceRelay) -> None:
        self.client = client
        self.link = link
        self.relay = relay
        self.done = anyio.Event()


class _Waiter:
    """A call that missed, waiting for the next instance ready (None: start your own)."""

    def __init__(self) -> None:
        self.handed = anyio.Event()
        self.prepared: Prepared | None = None

    def hand(self, prepared: Prepared | None) -> None:
        self.prepared = prepared
        self.handed.set()


class WarmSet:
    def __init__(
        self, sessions: Sessions, spec: ServerSpec, demand: WarmDemand, tg: TaskGroup, max_idle: float
    ) -> None:
        self.sessions = sessions
        self.spec = spec
        self.demand = demand
        self.size = demand.target()
        self.tg = tg
        self.max_idle = max_idle
        self.ready: deque[Prepared] = deque()
        self.waiting: deque[_Waiter] = deque()
        self.starting = 0
        self.closed = False
        self._resizing = anyio.CancelScope()

    async def take(self) -> Prepared | None:
        """A ready instance for one call (give it back with `release`), or None: start your own. A miss
        grows the pool, and waits for an instance already starting when one is not promised to an
        earlier miss."""
        self.demand.record_call()
        if self.ready:
            calls.note_warm(self.spec.name, "hit")
            return self.ready.popleft()
        self.resize()
        if self.closed or self.starting <= len(self.waiting):
            calls.note_warm(self.spec.name, "miss")
            return None
        waiter = _Waiter()
        self.waiting.append(waiter)
        began = anyio.current_time()
        try:
            await waiter.handed.wait()
        except BaseException:
            if waiter in self.waiting:
                self.waiting.remove(waiter)
            elif waiter.prepared is not None:  # handed over as this call was cancelled: keep it for the next
                self._ready(waiter.prepared)
            raise
        calls.note_warm(self.spec.name, "waited" if waiter.prepared else "miss", anyio.current_time() - began)
        return waiter.prepared

    def _ready(self, prepared: Prepared) -> None:
        """A started instance: to the first waiting call, else among the ready ones."""
        if self.waiting:
            self.waiting.popleft().hand(prepared)
        else:
            self.ready.append(prepared)

    def _unpromise(self) -> None:
        """Fewer instances start than calls wait for: the last waiting ones start their own."""
        while len(self.waiting) > self.starting:
            self.waiting.pop().hand(None)

    def release(self, prepared: Prepared) -> None:
        """The call of a taken instance is answered: stop it and resize the pool, off the call's path."""
        self.tg.start_soon(self._after_call, prepared)

    async def _after_call(self, prepared: Prepared) -> None:
        try:
            await anyio.sleep(AFTER_CALL_SECONDS)
        finally:
            prepared.done.set()
        self.resize()

    def resize(self) -> None:
        """Bring the pool to the demand's target: start the missing instances, stop surplus ready ones."""
        self.size = self.demand.target()
        while not self.closed and len(self.ready) > self.size:
            self.ready.pop().done.set()  # the newest first: the older ones are renewed sooner anyway
        self.refill()

    def refill(self) -> None:
        while not self.closed and len(self.ready) + self.starting < self.size:
            self.starting += 1
            self.tg.start_soon(self._prepare)

    async def keep_sized(self) -> None:
        """Re-evaluate the demand periodically (an idle pool shrinks with no call to trigger it)."""
        with self._resizing:
            while not self.closed:
                await anyio.sleep(RESIZE_SECONDS)
                self.resize()

    def close(self) -> None:
        self.closed = True
        self._resizing.cancel()
        while self.ready:
            self.ready.popleft().done.set()
        while self.waiting:
            self.waiting.popleft().hand(None)

    async def _prepare(self) -> None:
        calls.leave_call()  # started from a call's task: its start phases are not that call's
        relay = InstanceRelay(self.spec.name, shared=False)
        counted = True
        asked = self.demand.clock()
        try:
            async with self.sessions.open(self.spec, relay) as (client, link):
                await prime(self.spec.name, client)
                self.demand.record_start(self.demand.clock() - asked)
                prepared = Prepared(client, link, relay)
                self.starting -= 1
                counted = False
                if not self.waiting and (self.closed or len(self.ready) >= self.size):
                    return  # closed or shrunk while it started: stop it
                self._ready(prepared)
                with anyio.move_on_after(self.max_idle):
                    await prepared.done.wait()
                if prepared in self.ready:  # renewed unused: make way for a fresh one
                    self.ready.remove(prepared)
                    self.tg.start_soon(self._refill_later, 0.0)
                else:
                    await prepared.done.wait()  # taken: stop once its call is over
        except (ServerError, Exception) as exc:
            logger.warning("warm instance of %s could not be prepared: %s", self.spec.name, exc)
            self.tg.start_soon(self._refill_later, FAILURE_BACKOFF_SECONDS)
        finally:
            if counted:
                self.starting -= 1
                self._unpromise()

    async def _refill_later(self, delay: float) -> None:
        await anyio.sleep(delay)
        self.refill()


async def prime(server: str, client: Client) -> None:
    """Ask a fresh instance that offers tools for its listing, so its one call makes one request (the
    session lists the tools before checking a result against its output schema when it has not), and
    have the session compile the listed tools' output-schema validators."""
    if client.server_capabilities.tools is None:
        return
    try:
        listed = await client.list_tools()
    except MCPError as exc:  # the call will list again; the instance is still good for its call
        logger.info("warm instance of %s did not list its tools: %s", server, exc.error.message)
        return
    empty = types.CallToolResult(content=[], structured_content={})
    for tool in listed.tools:
        if tool.output_schema is not None:
            # Checking any result compiles and keeps the tool's validator (listed: no request is made);
            # whether the empty result conforms does not matter, nor does a schema that does not compile.
            with suppress(RuntimeError):
                await client.session.validate_tool_result(tool.name, empty)
