"""The client side of one server instance: what the server sends to its client (log messages, requests
for sampling, elicitation and roots, other notifications) goes to the client session of the call it
belongs to.

Which call a message belongs to:

- the call whose task is running when the message arrives: a 2026-07-28 server asks for input inside
  the call's own result (`InputRequiredResult`), which the SDK resolves in the calling task;
- else the only call in flight on the instance (always so for a per-call instance), or the oldest of
  several calls of one client session;
- else nobody: a request gets an error saying why (never the wrong client), a log message is dropped.

A shared (resident) instance also has attached sessions, the client sessions that used it: its
messages outside any call (a server's own periodic log messages) go to each of them.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import mcp_types as types
from mcp.client.session import ClientRequestContext, IncomingMessage

from kubemcp.backend.hooks import CallHooks, InputAnswer, SessionLink

logger = logging.getLogger(__name__)

_CURRENT: ContextVar[CallHooks | None] = ContextVar("kubemcp_current_call", default=None)

ResourceUpdated = Callable[[str], Awaitable[None]]

# What the gateway can relay, and so declares to instances started before the caller is known.
RELAYED = types.ClientCapabilities(
    sampling=types.SamplingCapability(context=types.SamplingContextCapability(), tools=types.SamplingToolsCapability()),
    elicitation=types.ElicitationCapability(
        form=types.FormElicitationCapability(), url=types.UrlElicitationCapability()
    ),
    roots=types.RootsCapability(list_changed=True),
)


def relayable(declared: types.ClientCapabilities | None) -> types.ClientCapabilities:
    """The part of a client's capabilities the gateway relays to a backend started for it alone."""
    if declared is None:
        return types.ClientCapabilities()
    return types.ClientCapabilities(sampling=declared.sampling, elicitation=declared.elicitation, roots=declared.roots)


def refusal(declared: types.ClientCapabilities | None, request: types.InputRequest) -> types.ErrorData | None:
    """The error a client that did not declare what `request` needs answers with (None: it did declare it).

    A client without the capability does not offer the method (-32601, which the roots chapter names);
    an elicitation mode the client did not declare is invalid params (-32602, the elicitation chapter).
    An elicitation capability that names no mode means form mode.
    """
    caps = declared or types.ClientCapabilities()
    if isinstance(request, types.CreateMessageRequest):
        if caps.sampling is None:
            return types.ErrorData(code=types.METHOD_NOT_FOUND, message="the client does not support sampling")
        wants_tools = request.params.tools is not None or request.params.tool_choice is not None
        if wants_tools and caps.sampling.tools is None:
            return types.ErrorData(code=types.INVALID_PARAMS, message="the client does not support tools in sampling")
        return None
    if isinstance(request, types.ElicitRequest):
        if caps.elicitation is None:
            return types.ErrorData(code=types.METHOD_NOT_FOUND, message="the client does not support elicitation")
        form = caps.elicitation.form is not None or caps.elicitation.url is None
        mode = request.params.mode
        if (mode == "url" and caps.elicitation.url is None) or (mode == "form" and not form):
            return types.ErrorData(code=types.INVALID_PARAMS, message=f"the client does not support {mode} elicitation")
        return None
    if caps.roots is None:
        return types.ErrorData(code=types.METHOD_NOT_FOUND, message="the client does not support roots")
    return None


class InstanceRelay:
    """Routes one instance's messages to its client sessions; `shared` instances serve several sessions."""

    def __init__(self, server: str, *, shared: bool) -> None:
        self.server = server
        self.shared = shared
        self.calls: list[CallHooks] = []
        self._attached: weakref.WeakSet[Any] = weakref.WeakSet()
        self.on_resource_updated: ResourceUpdated | None = None

    @contextmanager
    def serving(self, hooks: CallHooks) -> Iterator[None]:
        """Around one call on this instance, in the task that awaits it."""
        self.calls.append(hooks)
        if self.shared and hooks.session is not None:
            self._attached.add(hooks.session)
        token = _CURRENT.set(hooks)
        try:
            yield
        finally:
            _CURRENT.reset(token)
            self.calls.remove(hooks)

    @property
    def attached(self) -> list[SessionLink]:
        return list(self._attached)

    def attach(self, session: SessionLink) -> None:
        self._attached.add(session)

    def _call(self) -> CallHooks | None:
        current = _CURRENT.get()
        if current is not None and current in self.calls:
            return current
        if not self.calls:
            return None
        first = self.calls[0]
        if len(self.calls) == 1 or (first.session is not None and all(c.session is first.session for c in self.calls)):
            return first
        return None

    # -- the SDK client's callbacks --------------------------------------------------------

    async def sampling(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
        answer = await self._ask(types.CreateMessageRequest(params=params))
        if isinstance(answer, types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData):
            return answer
        return _wrong_answer(answer)

    async def elicitation(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        answer = await self._ask(types.ElicitRequest(params=params))
        if isinstance(answer, types.ElicitResult | types.ErrorData):
            return answer
        return _wrong_answer(answer)

    async def roots(self, context: ClientRequestContext) -> types.ListRootsResult | types.ErrorData:
        answer = await self._ask(types.ListRootsRequest())
        if isinstance(answer, types.ListRootsResult | types.ErrorData):
            return answer
        return _wrong_answer(answer)

    async def _ask(self, request: types.InputRequest) -> InputAnswer:
        hooks = self._call()
        if hooks is None:
            why = (
                "several client sessions' calls are in flight on it" if self.calls else "no client request is in flight"
            )
            logger.info("server %s sent %s that no client can answer: %s", self.server, request.method, why)
            return types.ErrorData(
                code=types.INTERNAL_ERROR,
                message=f"kubemcp cannot tell which client {request.method} is for: {why} "
                "(a server that asks its clients during calls is best run per call or per session)",
            )
        refused = refusal(hooks.capabilities, request)
        if refused is not None:
            return refused
        if hooks.ask is None:
            return types.ErrorData(code=types.METHOD_NOT_FOUND, message=f"no client to answer {request.method}")
        return await hooks.ask(request)

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        hooks = self._call()
        if hooks is not None:
            if hooks.on_log is not None:
                await hooks.on_log(params)
            return
        if self.calls or not self.shared:
            return  # overlapping calls of several sessions: the message cannot be attributed
        for session in self.attached:
            await session.send_log(params)

    async def on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, Exception):
            logger.debug("server %s: transport reported %s", self.server, message)
            return
        if isinstance(message, types.ResourceUpdatedNotification):
            if self.on_resource_updated is not None:
                await self.on_resource_updated(message.params.uri)
            return
        if isinstance(message, types.ElicitCompleteNotification):
            hooks = self._call()
            sessions = [hooks.session] if hooks is not None and hooks.session is not None else []
            if hooks is None and not self.calls and self.shared:
                sessions = self.attached
            for session in sessions:
                await session.send_notification(message)


def _wrong_answer(answer: object) -> types.ErrorData:
    return types.ErrorData(code=types.INTERNAL_ERROR, message=f"the client answered with {type(answer).__name__}")
