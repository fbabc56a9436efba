"""2026-07-28 requests whose backend call waits for the client's input between rounds.

A 2026-07-28 server never sends its client a request: it answers `tools/call` (or `prompts/get`,
`resources/read`) with an `InputRequiredResult` naming what it needs, and the client sends the same
request again with the answers and the echoed `requestState`. Through the gateway the backend call
goes on meanwhile (a per-call instance stays up with its question pending): an *exchange* holds it
between rounds, and `requestState` names the exchange. The SDK's `RequestStateBoundary` seals that
name, so a client can neither read nor forge it, and binds it to the request it was minted for.

`ExchangeStore` is where exchanges live. A retry reaching another gateway replica needs a store that
routes it to the replica holding the exchange; this module keeps them in this process.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import anyio
import anyio.lowlevel
import mcp_types as types
from anyio.abc import TaskGroup
from pydantic import BaseModel, ValidationError

from kubemcp.backend.hooks import InputAnswer, LogSink, ProgressSink

logger = logging.getLogger(__name__)

R = TypeVar("R")
DEFAULT_TTL_SECONDS = 600.0
GATHER_CHECKPOINTS = 3  # let questions asked together (one round of a 2026 backend) leave together


@dataclass
class _Question:
    request: types.InputRequest
    answered: anyio.Event = field(default_factory=anyio.Event)
    answer: InputAnswer | None = None

    def settle(self, answer: InputAnswer) -> None:
        self.answer = answer
        self.answered.set()


def _answer_type(request: types.InputRequest) -> type[BaseModel]:
    if isinstance(request, types.CreateMessageRequest):
        tools = request.params.tools is not None or request.params.tool_choice is not None
        return types.CreateMessageResultWithTools if tools else types.CreateMessageResult
    if isinstance(request, types.ElicitRequest):
        return types.ElicitResult
    return types.ListRootsResult


class Exchange:
    """One request of a 2026-07-28 client, over as many rounds as its backend call asks questions."""

    def __init__(self, exchange_id: str, ttl: float) -> None:
        self.id = exchange_id
        self.ttl = ttl
        self.expires = time.monotonic() + ttl
        self.scope = anyio.CancelScope()
        self.finished = anyio.Event()
        self._outcome: list[Any] = []
        self._failure: list[BaseException] = []
        self._asked: dict[str, _Question] = {}
        self._waiting: dict[str, _Question] = {}
        self._wake = anyio.Event()
        self._count = 0
        self.in_round = False
        self.round_log: LogSink | None = None
        self.round_progress: ProgressSink | None = None

    # -- the backend call's side -----------------------------------------------------------

    async def ask(self, request: types.InputRequest) -> InputAnswer:
        """A `ClientAsk`: queue the question for the client's next round and wait for its answer."""
        self._count += 1
        question = _Question(request)
        self._asked[f"input-{self._count}"] = question
        self._wake.set()
        await question.answered.wait()
        assert question.answer is not None
        return question.answer

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        if self.round_log is not None:
            await self.round_log(params)

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        if self.round_progress is not None:
            await self.round_progress(progress, total, message)

    async def run(self, call: Awaitable[Any]) -> None:
        """The backend call, in the gateway's task group: it outlives each round's HTTP request."""
        with self.scope:
            try:
                self._outcome.append(await call)
            except Exception as exc:  # handed to the round that reports it
                self._failure.append(exc)
        self.finished.set()
        self._wake.set()
        for question in [*self._asked.values(), *self._waiting.values()]:
            question.settle(types.ErrorData(code=types.INTERNAL_ERROR, message="the request is over"))

    # -- the client's side -----------------------------------------------------------------

    def answer(self, responses: Mapping[str, Any] | None) -> None:
        """The answers a retry carries (raw JSON), each checked against the question it answers."""
        for key, question in self._waiting.items():
            raw = (responses or {}).get(key)
            if raw is None:
                question.settle(types.ErrorData(code=types.INVALID_PARAMS, message="the client sent no answer"))
                continue
            try:
                question.settle(_answer_type(question.request).model_validate(raw, by_name=False))  # type: ignore[arg-type]
            except ValidationError:
                question.settle(types.ErrorData(code=types.INVALID_PARAMS, message="the client's answer is invalid"))
        self._waiting.clear()

    async def next_round(self) -> Any:
        """The call's result, or an `InputRequiredResult` with the questions asked since the last round."""
        while not self._asked and not self.finished.is_set():
            wake = self._wake = anyio.Event()
            await wake.wait()
        if self._asked and not self.finished.is_set():
            for _ in range(GATHER_CHECKPOINTS):
                await anyio.lowlevel.checkpoint()
            self._waiting, self._asked = self._asked, {}
            return types.InputRequiredResult(
                input_requests={key: question.request for key, question in self._waiting.items()},
                request_state=self.id,
            )
        if self._failure:
            raise self._failure[0]
        return self._outcome[0]


class ExchangeStore(Protocol):
    """Where exchanges live between rounds."""

    def create(self) -> Exchange: ...

    def get(self, exchange_id: str) -> Exchange | None: ...

    def discard(self, exchange: Exchange) -> None: ...


class LocalExchanges:
    """Exchanges in this process; one abandoned by its client (no round for `ttl` seconds) is ended."""

    def __init__(self, ttl: float = DEFAULT_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._exchanges: dict[str, Exchange] = {}

    def create(self) -> Exchange:
        exchange = Exchange(secrets.token_urlsafe(18), self.ttl)
        self._exchanges[exchange.id] = exchange
        return exchange

    def get(self, exchange_id: str) -> Exchange | None:
        return self._exchanges.get(exchange_id)

    def discard(self, exchange: Exchange) -> None:
        exchange.scope.cancel()
        self._exchanges.pop(exchange.id, None)

    def __len__(self) -> int:
        return len(self._exchanges)

    async def expire_forever(self) -> None:
        while True:
            await anyio.sleep(min(30.0, self.ttl / 4))
            now = time.monotonic()
            for exchange in list(self._exchanges.values()):
                if not exchange.in_round and exchange.expires < now:
                    logger.info("ending a request whose client did not come back within %.0fs", self.ttl)
                    self.discard(exchange)


async def run_round(
    store: ExchangeStore,
    exchange: Exchange,
    log: LogSink | None,
    progress: ProgressSink | None,
) -> Any:
    """One round of an exchange, for the client request in flight; its messages go on that request's stream."""
    exchange.in_round, exchange.round_log, exchange.round_progress = True, log, progress
    try:
        outcome = await exchange.next_round()
    except BaseException:
        store.discard(exchange)  # the call failed, or the client gave up on this round
        raise
    finally:
        exchange.in_round, exchange.round_log, exchange.round_progress = False, None, None
        exchange.expires = time.monotonic() + exchange.ttl
    if not isinstance(outcome, types.InputRequiredResult):
        store.discard(exchange)
    return outcome


def start(store: ExchangeStore, tg: TaskGroup, call: Callable[[Exchange], Awaitable[R]]) -> Exchange:
    """A new exchange whose backend call runs in `tg`."""
    exchange = store.create()
    tg.start_soon(exchange.run, call(exchange))
    return exchange
