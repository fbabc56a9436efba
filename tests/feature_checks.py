"""Protocol feature checks, written once and run against a server directly and through the gateway.

Each check connects a real SDK client (through `Target.connect`), exercises one feature and returns
its outcome as plain data; `test_feature_parity` asserts that the outcomes through the gateway (per
call and long-lived, each era) equal those of the server itself. The client answers the server's
requests the same way everywhere (`Answers`), and records what it was asked, so that what reaches the
client (the elicitation form, the sampling messages) is compared too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
from mcp.client import Client
from mcp.client.session import ClientRequestContext, IncomingMessage
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

TIMEOUT = 60.0
ROOTS = [
    types.Root.model_validate({"uri": "file:///work/project", "name": "project"}),
    types.Root.model_validate({"uri": "file:///work/docs", "name": "docs"}),
]
VOLATILE = {"_meta", "elicitationId", "elicitation_id"}

Connect = Callable[..., AbstractAsyncContextManager[Client]]


def plain(value: Any) -> Any:
    """JSON-able data without volatile keys (metadata, random ids)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items() if key not in VOLATILE}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def form_answer(schema: dict[str, Any]) -> dict[str, Any]:
    """What a user who keeps every default (and picks the first choice elsewhere) submits."""
    answer: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        if "default" in prop:
            answer[name] = prop["default"]
        elif prop.get("enum"):
            answer[name] = prop["enum"][0]
        elif prop.get("oneOf"):
            answer[name] = prop["oneOf"][0]["const"]
        elif prop.get("type") == "boolean":
            answer[name] = True
        elif prop.get("type") in ("integer", "number"):
            answer[name] = prop.get("minimum", 1)
        elif prop.get("type") == "array":
            items = prop.get("items") or {}
            first = (items.get("enum") or [None])[0] or (items.get("anyOf") or [{}])[0].get("const")
            answer[name] = [first]
        elif prop.get("format") == "email":
            answer[name] = "ada@example.com"
        elif prop.get("format") == "uri":
            answer[name] = "https://example.com"
        elif prop.get("format") == "date":
            answer[name] = "1815-12-10"
        else:
            answer[name] = "Ada Lovelace"
    return answer


@dataclass
class Answers:
    """The client's side of sampling, elicitation and roots, recording what it was asked."""

    decline: bool = False
    asked: list[Any] = field(default_factory=list)

    async def sampling(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        self.asked.append({"sampling": plain(params)})
        last = params.messages[-1].content
        text = last.text if isinstance(last, types.TextContent) else "?"
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=f"echo: {text}"), model="test-model"
        )

    async def elicitation(self, context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append({"elicitation": plain(params)})
        if self.decline:
            return types.ElicitResult(action="decline")
        if isinstance(params, types.ElicitRequestURLParams):
            return types.ElicitResult(action="accept")
        return types.ElicitResult(action="accept", content=form_answer(params.requested_schema))

    async def roots(self, context: ClientRequestContext) -> types.ListRootsResult:
        self.asked.append("roots")
        return types.ListRootsResult(roots=ROOTS)

    def callbacks(self, sampling: bool = True, elicitation: bool = True, roots: bool = True) -> dict[str, Any]:
        return {
            "sampling_callback": self.sampling if sampling else None,
            "elicitation_callback": self.elicitation if elicitation else None,
            "list_roots_callback": self.roots if roots else None,
        }


@dataclass
class Target:
    """Where the checks run: `connect(**client_options)` opens a connected `Client` in `mode`."""

    name: str
    connect: Connect
    mode: str = "legacy"

    @asynccontextmanager
    async def client(self, **options: Any) -> AsyncIterator[Client]:
        with anyio.fail_after(TIMEOUT):
            async with self.connect(mode=self.mode, **options) as client:
                yield client


def result_data(result: types.CallToolResult) -> Any:
    """A tool result as data: structured content, else its text blocks (JSON decoded when they are JSON)."""
    if result.structured_content is not None:
        return {"error": result.is_error, "structured": plain(result.structured_content)}
    texts = []
    for block in result.content:
        text = block.text if isinstance(block, types.TextContent) else block.type
        try:
            texts.append(json.loads(text))
        except ValueError:
            texts.append(text)
    return {"error": bool(result.is_error), "content": texts}


async def call(target: Target, tool: str, arguments: dict[str, Any] | None = None, **options: Any) -> Any:
    """Call one tool with fresh answers; the outcome is the result and what the client was asked."""
    answers: Answers = options.pop("answers", None) or Answers()
    callbacks = answers.callbacks(**options.pop("capabilities", {}))
    async with target.client(**callbacks, **options) as client:
        try:
            result = result_data(await client.call_tool(tool, arguments or {}))
        except MCPError as exc:
            result = {"mcp_error": exc.error.code}
    return {"result": result, "asked": answers.asked}


async def concurrently(runs: dict[str, Awaitable[Any]]) -> dict[str, Any]:
    """Run checks side by side (they use separate connections and separate server instances)."""
    outcomes: dict[str, Any] = {}

    async def one(name: str, pending: Awaitable[Any]) -> None:
        outcomes[name] = await pending

    async with anyio.create_task_group() as tg:
        for name, pending in runs.items():
            tg.start_soon(one, name, pending)
    return outcomes


# -- the checks -------------------------------------------------------------------------------


async def sampling(target: Target, tool: str, arguments: dict[str, Any]) -> Any:
    return await call(target, tool, arguments)


async def elicitation(target: Target, tool: str, arguments: dict[str, Any] | None = None) -> Any:
    return await call(target, tool, arguments)


async def elicitation_declined(target: Target, tool: str) -> Any:
    return await call(target, tool, answers=Answers(decline=True))


async def roots(target: Target, tool: str) -> Any:
    return await call(target, tool)


async def logging_at(target: Target, tool: str, level: types.LoggingLevel) -> Any:
    """Log messages of a call after the client asked for `level` (setLevel, or the 2026 per-request level)."""
    received: list[str] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        received.append(params.level)

    async with target.client(logging_callback=on_log, log_level=level) as client:
        if client.protocol_version != "2026-07-28":
            await client.session.send_request(
                types.SetLevelRequest(params=types.SetLevelRequestParams(level=level)), types.EmptyResult
            )
        await client.call_tool(tool, {})
    return sorted(received)


async def completions(target: Target, requests: list[tuple[Any, dict[str, str], dict[str, str] | None]]) -> Any:
    outcomes = []
    async with target.client() as client:
        for ref, argument, context in requests:
            result = await client.complete(ref, argument, context_arguments=context)
            outcomes.append(result.completion.values)
    return outcomes


async def ping(target: Target, tool: str) -> Any:
    async with target.client(**Answers().callbacks()) as client:
        pinged = await client.session.send_ping() if client.protocol_version != "2026-07-28" else "no ping at 2026"
        result = result_data(await client.call_tool(tool, {}))
    return {"pinged": plain(pinged), "result": result}


async def subscription(target: Target, uri: str, trigger: Callable[[Client], Awaitable[Any]]) -> Any:
    """Subscribe to `uri` (2025: resources/subscribe, 2026: subscriptions/listen), trigger a change, and
    see the update arrive; a second session that did not subscribe sees none."""
    updated = anyio.Event()
    others: list[str] = []

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, types.ResourceUpdatedNotification) and message.params.uri == uri:
            updated.set()

    async def bystander(message: IncomingMessage) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            others.append(message.params.uri)

    async with target.client(message_handler=on_message) as client, target.client(message_handler=bystander):
        if client.protocol_version == "2026-07-28":
            async with client.listen(resource_subscriptions=[uri]) as listening:
                await trigger(client)
                async for event in listening:
                    if getattr(event, "uri", None) == uri:
                        break
            return {"updated": True, "others": others}
        try:
            await client.session.send_request(
                types.SubscribeRequest(params=types.SubscribeRequestParams(uri=uri)), types.EmptyResult
            )
        except MCPError as exc:
            return {"subscribe_error": exc.error.code}
        await trigger(client)
        await updated.wait()
        await client.session.send_request(
            types.UnsubscribeRequest(params=types.UnsubscribeRequestParams(uri=uri)), types.EmptyResult
        )
    return {"updated": True, "others": others}
