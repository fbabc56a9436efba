"""One tool call, observed: a span parented on the client's trace context, Prometheus metrics, an
audit record and an entry in the recent calls, whatever way the call ends.

`core.Gateway.call_tool` wraps its work in `CallObserver.tool_call`; the backend and the runtimes
fill in the call's note (instance, warm or cold, start phases) on the way down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError
from opentelemetry.trace import SpanKind

from kubemcp.gateway.observe.audit import AuditLog, payload_summary, timestamp
from kubemcp.gateway.observe.recent import RecentCalls
from kubemcp.telemetry import calls, tracing
from kubemcp.telemetry.metrics import CALLS_IN_FLIGHT, TOOL_CALL_SECONDS, TOOL_CALLS

logger = logging.getLogger("kubemcp.gateway.calls")

MAX_NAME = 200
DENIED = -32003  # JSON-RPC's implementation-defined range: a policy (an interceptor) refused the call


@dataclass
class ToolCall:
    """A call on its way through the gateway; interceptors may change `arguments` and the result."""

    name: str  # the public name the client called
    server: str
    tool: str  # the server's own name for it
    arguments: dict[str, Any] | None
    principal: str
    note: calls.CallNote
    outcome: str = "ok"
    error_code: int | None = None
    decisions: list[str] = field(default_factory=list)  # what interceptors did, e.g. "before:exec:/x: rewrite"
    result: types.CallToolResult | None = None

    def answered(self, result: types.CallToolResult) -> None:
        self.result = result
        self.outcome = "tool_error" if result.is_error else "ok"

    def denied(self) -> None:
        self.outcome = "denied"


class CallObserver:
    def __init__(self, audit: AuditLog, recent: RecentCalls) -> None:
        self.audit = audit
        self.recent = recent
        self.log_calls = False

    @asynccontextmanager
    async def tool_call(
        self,
        name: str,
        server: str,
        tool: str,
        arguments: dict[str, Any] | None,
        principal: str,
        meta: Mapping[str, Any] | None,
    ) -> AsyncIterator[ToolCall]:
        started, wall = time.perf_counter(), time.time()
        attributes = {"mcp.method.name": "tools/call", "gen_ai.tool.name": name, "kubemcp.server": server}
        span_name = f"tools/call {name}"
        with (
            tracing.span(span_name, attributes, kind=SpanKind.SERVER, parent=tracing.parent_from_meta(meta)) as span,
            calls.noting() as note,
        ):
            call = ToolCall(name, server, tool, arguments, principal, note)
            received = payload_summary(arguments or {})
            CALLS_IN_FLIGHT.labels(server=server).inc()
            try:
                yield call
            except MCPError as exc:
                call.error_code = exc.error.code
                if call.outcome == "ok":  # "denied", "forbidden", "secret_blocked" say why
                    call.outcome = "error"
                tracing.failed(span, exc.error.message)
                raise
            except anyio.get_cancelled_exc_class():
                call.outcome = "cancelled"
                raise
            except BaseException:
                call.outcome = "error"
                raise
            finally:
                CALLS_IN_FLIGHT.labels(server=server).dec()
                seconds = time.perf_counter() - started
                span.set_attribute("kubemcp.outcome", call.outcome)
                if call.note.instance:
                    span.set_attribute("kubemcp.instance", call.note.instance)
                trace_id = span.get_span_context().trace_id
                self._finish(call, wall, seconds, received, f"{trace_id:032x}" if trace_id else None)

    def unknown_tool(self, name: str, principal: str) -> None:
        """A call of a name the gateway does not serve: counted and audited, its name cut to a bounded size."""
        TOOL_CALLS.labels(server="", tool="", outcome="unknown_tool").inc()
        record = {
            "time": timestamp(time.time()),
            "event": "tools/call",
            "principal": principal,
            "tool": name[:MAX_NAME],
            "outcome": "unknown_tool",
        }
        self.audit.write(record)

    def _finish(
        self, call: ToolCall, wall: float, seconds: float, received: dict[str, Any], trace_id: str | None
    ) -> None:
        TOOL_CALLS.labels(server=call.server, tool=call.tool, outcome=call.outcome).inc()
        TOOL_CALL_SECONDS.labels(server=call.server, tool=call.tool).observe(seconds)
        duration_ms = round(seconds * 1000, 3)
        record: dict[str, Any] = {
            "time": timestamp(wall),
            "event": "tools/call",
            "principal": call.principal,
            "server": call.server,
            "tool": call.tool,
            "name": call.name,
            "outcome": call.outcome,
            "duration_ms": duration_ms,
            "instance": call.note.instance,
            "warm": call.note.warm,
            "arguments": received,
        }
        if call.note.warm_waited is not None:  # served by a warm instance that was still starting
            record["warm_waited_ms"] = round(call.note.warm_waited * 1000, 1)
        phases_ms = {phase: round(value * 1000, 1) for phase, value in call.note.phases.items()}
        if phases_ms:  # the call started its own instance: when each start phase was reached
            record["phases_ms"] = phases_ms
        if call.result is not None:
            record["result"] = payload_summary(call.result.model_dump(mode="json", by_alias=True, exclude_none=True))
        if call.error_code is not None:
            record["error_code"] = call.error_code
        if call.decisions:
            record["interceptors"] = call.decisions
        if trace_id:
            record["trace_id"] = trace_id
        self.audit.write(record)
        self.recent.add(
            {
                "time": record["time"],
                "principal": call.principal,
                "server": call.server,
                "tool": call.name,
                "outcome": call.outcome,
                "duration_ms": duration_ms,
                "instance": call.note.instance,
                "warm": call.note.warm,
                "phases_ms": phases_ms,
            }
        )
        if self.log_calls:
            logger.info(
                "call %s -> %s/%s for %s in %.1f ms (%s)",
                call.name,
                call.server,
                call.tool,
                call.principal,
                duration_ms,
                call.outcome,
            )
