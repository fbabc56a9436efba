"""Interceptors: hooks before and after `tools/call` that may allow, deny, or rewrite the call.

Each hook gets the call as JSON (an exec hook on stdin, an http hook as a POST body):

    {"when": "before"|"after", "method": "tools/call", "params": {"name": ..., "arguments": {...}},
     "server": ..., "tool": ..., "principal": ..., "result": {...}}        # result: "after" only

and answers with JSON (an exec hook on stdout, an http hook in a 2xx response body):

    (nothing) or {"action": "allow"}                   the call goes on unchanged
    {"action": "deny", "message": "..."}               the call fails with an MCP error carrying the message
    {"action": "rewrite", "arguments": {...}}          before: the server gets these arguments instead
    {"action": "rewrite", "result": {...}}             after: the client gets this CallToolResult instead
    {"content": [...], ...}  (a CallToolResult)        as in Docker's gateway: before, answer without the
                                                       server; after, replace the result

A hook that fails, times out or answers anything else fails the call closed. Hooks run in order.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from contextlib import suppress
from typing import Any, NoReturn

import anyio
import httpx2
import mcp_types as types
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from kubemcp.gateway.observe.calls import DENIED, ToolCall
from kubemcp.model.gateway_options import InterceptorOption
from kubemcp.telemetry import tracing
from kubemcp.telemetry.metrics import INTERCEPTOR_DECISIONS, expect_interceptor_decisions

logger = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 4 * 1024 * 1024
INHERITED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SHELL")


class InterceptorFailed(Exception):
    """The hook did not give a usable answer."""


class Interceptors:
    def __init__(self, hooks: list[InterceptorOption] | None = None) -> None:
        self.hooks: tuple[InterceptorOption, ...] = tuple(hooks or ())

    def configure(self, hooks: list[InterceptorOption]) -> None:
        self.hooks = tuple(hooks)
        for hook in self.hooks:
            expect_interceptor_decisions(hook.when, hook.type)

    async def before(self, call: ToolCall) -> types.CallToolResult | None:
        """Run the `before` hooks: they may rewrite `call.arguments`, deny, or answer in the server's place."""
        for hook in self.hooks:
            if hook.when != "before":
                continue
            answer = await self._ask(hook, call, None)
            action = _action(answer)
            if action == "allow":
                self._decided(hook, call, "allow")
            elif action == "deny":
                self._deny(hook, call, answer)
            elif action == "rewrite" and isinstance(answer.get("arguments"), dict):
                call.arguments = answer["arguments"]
                self._decided(hook, call, "rewrite")
            elif action == "respond":
                result = self._result(hook, answer)
                self._decided(hook, call, "respond")
                return result
            else:
                self._fail(hook, call, f"unusable answer (action {action!r})")
        return None

    async def after(self, call: ToolCall, result: types.CallToolResult) -> types.CallToolResult:
        for hook in self.hooks:
            if hook.when != "after":
                continue
            answer = await self._ask(hook, call, result)
            action = _action(answer)
            if action == "allow":
                self._decided(hook, call, "allow")
            elif action == "deny":
                self._deny(hook, call, answer)
            elif action in ("rewrite", "respond") and (action == "respond" or isinstance(answer.get("result"), dict)):
                result = self._result(hook, answer.get("result", answer) if action == "rewrite" else answer)
                self._decided(hook, call, "rewrite")
            else:
                self._fail(hook, call, f"unusable answer (action {action!r})")
        return result

    # -- asking ------------------------------------------------------------------------------

    async def _ask(
        self, hook: InterceptorOption, call: ToolCall, result: types.CallToolResult | None
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "when": hook.when,
            "method": "tools/call",
            "params": {"name": call.name, "arguments": call.arguments or {}},
            "server": call.server,
            "tool": call.tool,
            "principal": call.principal,
        }
        if result is not None:
            request["result"] = result.model_dump(mode="json", by_alias=True, exclude_none=True)
        body = json.dumps(request).encode()
        try:
            with tracing.span(f"kubemcp.interceptor {hook.when}", {"kubemcp.interceptor": hook.label}):
                with anyio.fail_after(hook.timeout_seconds):
                    raw = await (_run_exec(hook, body) if hook.type == "exec" else _post(hook, body))
        except TimeoutError:
            self._fail(hook, call, f"no answer within {hook.timeout_seconds:g}s")
        except InterceptorFailed as exc:
            self._fail(hook, call, str(exc))
        if not raw.strip():
            return {}
        try:
            answer = json.loads(raw)
        except ValueError:
            self._fail(hook, call, "its answer is not JSON")
        if not isinstance(answer, dict):
            self._fail(hook, call, "its answer is not a JSON object")
        return answer

    # -- outcomes ----------------------------------------------------------------------------

    def _result(self, hook: InterceptorOption, data: dict[str, Any]) -> types.CallToolResult:
        try:
            return types.CallToolResult.model_validate(data)
        except ValidationError as exc:
            raise self._failure(hook, f"its result is not a CallToolResult ({exc.error_count()} problems)") from None

    @staticmethod
    def _decided(hook: InterceptorOption, call: ToolCall, decision: str) -> None:
        INTERCEPTOR_DECISIONS.labels(when=hook.when, kind=hook.type, decision=decision).inc()
        call.decisions.append(f"{hook.label}: {decision}")

    def _deny(self, hook: InterceptorOption, call: ToolCall, answer: dict[str, Any]) -> None:
        self._decided(hook, call, "deny")
        call.denied()
        message = answer.get("message")
        reason = message[:1000] if isinstance(message, str) and message else "no reason given"
        raise MCPError(DENIED, f"tool {call.name!r} denied by interceptor {hook.label}: {reason}", {"denied": True})

    def _fail(self, hook: InterceptorOption, call: ToolCall, reason: str) -> NoReturn:
        self._decided(hook, call, "fail")
        raise self._failure(hook, reason)

    @staticmethod
    def _failure(hook: InterceptorOption, reason: str) -> MCPError:
        logger.warning("interceptor %s failed: %s", hook.label, reason)
        consequence = "the call was not made" if hook.when == "before" else "its result is withheld"
        return MCPError(types.INTERNAL_ERROR, f"interceptor {hook.label} failed: {reason}; {consequence}")


def _action(answer: dict[str, Any]) -> str:
    if not answer:
        return "allow"
    action = answer.get("action")
    if action is None and "content" in answer:
        return "respond"  # a bare CallToolResult, as Docker's interceptors answer
    return action if isinstance(action, str) else "invalid"


async def _run_exec(hook: InterceptorOption, body: bytes) -> bytes:
    """`/bin/sh -c TARGET` with the call on stdin; its stdout is the answer, a non-zero exit a failure."""
    env = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
    try:
        process = await anyio.open_process(["/bin/sh", "-c", hook.target], env=env, start_new_session=True)
    except OSError as exc:
        raise InterceptorFailed(f"cannot start it: {exc.strerror or exc}") from exc
    try:
        stdin, stdout, stderr = process.stdin, process.stdout, process.stderr
        assert stdin is not None
        assert stdout is not None
        assert stderr is not None
        output, errors = bytearray(), bytearray()
        too_large: list[bool] = []

        async def read(stream: Any, into: bytearray) -> None:
            async for chunk in stream:
                into.extend(chunk)
                if len(into) > MAX_ANSWER_BYTES:
                    too_large.append(True)
                    with suppress(OSError):
                        os.killpg(process.pid, signal.SIGKILL)
                    return

        async def write() -> None:
            with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await stdin.send(body)
            with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await stdin.aclose()

        async with anyio.create_task_group() as tg:
            tg.start_soon(write)
            tg.start_soon(read, stdout, output)
            tg.start_soon(read, stderr, errors)
        code = await process.wait()
        if too_large:
            raise InterceptorFailed("its answer is too large")
    finally:
        if process.returncode is None:
            with suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            with anyio.CancelScope(shield=True):
                await process.wait()
    if code != 0:
        tail = errors.decode(errors="replace").strip().splitlines()[-3:]
        raise InterceptorFailed(f"exited with code {code}" + (f": {' / '.join(tail)[:300]}" if tail else ""))
    return bytes(output)


async def _post(hook: InterceptorOption, body: bytes) -> bytes:
    """POST the call; a 2xx response's body is the answer."""
    try:
        async with httpx2.AsyncClient(timeout=hook.timeout_seconds, follow_redirects=False) as client:
            response = await client.post(hook.target, content=body, headers={"Content-Type": "application/json"})
    except httpx2.HTTPError as exc:
        raise InterceptorFailed(f"request failed: {type(exc).__name__}") from exc
    if not 200 <= response.status_code < 300:
        raise InterceptorFailed(f"answered HTTP {response.status_code}")
    if len(response.content) > MAX_ANSWER_BYTES:
        raise InterceptorFailed("its answer is too large")
    return response.content
