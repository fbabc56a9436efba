"""Which client a server's requests and log messages reach, against in-process servers."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Annotated

import anyio
import mcp_types as types
import pytest
from kubemcp.backend.hooks import CallHooks, InputAnswer
from kubemcp.backend.pool import BackendPool
from kubemcp.backend.relay import RELAYED, InstanceRelay, refusal
from kubemcp.model.entry import CatalogEntry, CatalogSource
from kubemcp.model.spec import ServerSpec, build_spec
from mcp.client.session import ClientRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resolve import ListRoots, Resolve
from memory_runtime import MemoryRuntime, RecordingSession

pytestmark = pytest.mark.anyio
SOURCE = CatalogSource(path="c.yaml", line=1, directory=".")


def _spec(lifecycle: str) -> ServerSpec:
    entry = CatalogEntry.model_validate({"image": "x/y", "kubernetes": {"lifecycle": lifecycle}})
    return build_spec("s", entry, SOURCE, {}, {})


def ask_roots() -> ListRoots:
    return ListRoots()


def asking_server(spec: ServerSpec, instance: int) -> MCPServer:
    server = MCPServer(spec.name)

    @server.tool()
    async def roots(found: Annotated[types.ListRootsResult, Resolve(ask_roots)]) -> list[str]:
        """The client's roots."""
        return [root.name or "" for root in found.roots]

    @server.tool()
    async def shout(text: str, ctx: Context) -> str:
        """Log a warning."""
        params = types.LoggingMessageNotificationParams(level="warning", data=text)
        notification = types.LoggingMessageNotification(params=params)
        await ctx.request_context.session.send_notification(notification, related_request_id=ctx.request_id)
        return text

    return server


class Asker:
    """A client that answers roots/list with its own name, once `release` is set."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.asked = anyio.Event()
        self.release = anyio.Event()
        self.release.set()

    async def __call__(self, request: types.InputRequest) -> InputAnswer:
        self.asked.set()
        await self.release.wait()
        return types.ListRootsResult(roots=[types.Root.model_validate({"uri": "file:///x", "name": self.name})])


def hooks(asker: Asker, session: RecordingSession | None) -> CallHooks:
    return CallHooks(ask=asker, capabilities=RELAYED, session=session)


def roots_of(result: types.CallToolResult) -> object:
    return result.structured_content


@pytest.mark.parametrize("lifecycle", ["perCall", "longLived"])
async def test_a_request_reaches_the_client_of_the_call(lifecycle: str) -> None:
    pool = BackendPool(MemoryRuntime(asking_server), idle_timeout=60)
    async with pool.running():
        for name in ("ada", "grace"):
            result = await pool.call(_spec(lifecycle), lambda c: c.call_tool("roots", {}), hooks(Asker(name), None))
            assert roots_of(result) == {"result": [name]}


async def test_overlapping_calls_of_two_sessions_on_a_shared_instance_are_never_crossed() -> None:
    """A request arriving outside any call's task (as over stdio) goes to the one call in flight, or to the
    oldest call of one session; with calls of two sessions in flight the server gets an error saying why,
    never the other client's answer. A request made in a call's own task (a 2026 server's input request)
    goes to that call."""
    relay = InstanceRelay("s", shared=True)
    ada, grace = Asker("ada"), Asker("grace")
    ada_session, grace_session = RecordingSession(), RecordingSession()
    ada_hooks, grace_hooks = hooks(ada, ada_session), hooks(grace, grace_session)
    context = ClientRequestContext.__new__(ClientRequestContext)

    async def outside_any_call() -> types.ListRootsResult | types.ErrorData:
        answer: list[types.ListRootsResult | types.ErrorData] = []

        async def ask() -> None:
            answer.append(await relay.roots(context))

        contextvars.Context().run(asyncio.get_running_loop().create_task, ask())
        with anyio.fail_after(5):
            while not answer:
                await anyio.sleep(0)
        return answer[0]

    with relay.serving(ada_hooks):
        assert await outside_any_call() == types.ListRootsResult(
            roots=[types.Root.model_validate({"uri": "file:///x", "name": "ada"})]
        )
        with relay.serving(hooks(Asker("ada again"), ada_session)):
            answer = await outside_any_call()
            assert isinstance(answer, types.ListRootsResult)
            assert answer.roots[0].name == "ada"  # the oldest call of the one session in flight
        with relay.serving(grace_hooks):
            refused = await outside_any_call()
            assert isinstance(refused, types.ErrorData)
            assert "several client sessions" in refused.message
            answer = await relay.roots(context)  # in grace's own task
            assert isinstance(answer, types.ListRootsResult)
            assert answer.roots[0].name == "grace"


async def test_log_messages_follow_the_call_and_its_session_level() -> None:
    pool = BackendPool(MemoryRuntime(asking_server), idle_timeout=60)
    seen: list[str] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        seen.append(str(params.data))

    async with pool.running():
        call_hooks = CallHooks(on_log=on_log, session=RecordingSession("warning"))
        await pool.call(_spec("longLived"), lambda c: c.call_tool("shout", {"text": "careful"}), call_hooks)
    assert seen == ["careful"]


def test_refusals_follow_the_declared_capabilities() -> None:
    sample = types.CreateMessageRequest(params=types.CreateMessageRequestParams(messages=[], max_tokens=1))
    form = types.ElicitRequest(params=types.ElicitRequestFormParams(message="m", requested_schema={}))
    url = types.ElicitRequest(params=types.ElicitRequestURLParams(message="m", url="https://x", elicitation_id="1"))
    roots = types.ListRootsRequest()
    nothing = types.ClientCapabilities()
    assert [getattr(refusal(nothing, r), "code", None) for r in (sample, form, url, roots)] == [-32601] * 4
    form_only = types.ClientCapabilities(elicitation=types.ElicitationCapability())
    assert refusal(form_only, form) is None
    refused = refusal(form_only, url)
    assert refused is not None
    assert refused.code == types.INVALID_PARAMS
    assert all(refusal(RELAYED, r) is None for r in (sample, form, url, roots))
