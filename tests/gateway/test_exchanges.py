"""Rounds of a 2026-07-28 request whose backend call asks its client for input."""

from __future__ import annotations

import anyio
import mcp_types as types
import pytest
from kubemcp.gateway.exchanges import Exchange, LocalExchanges, run_round, start

pytestmark = pytest.mark.anyio

ROOTS = types.ListRootsRequest()
SAMPLE = types.CreateMessageRequest(params=types.CreateMessageRequestParams(messages=[], max_tokens=5))


async def test_questions_asked_together_leave_in_one_round_and_the_answers_resume_the_call() -> None:
    store = LocalExchanges()
    answers: list[object] = []

    async def call(exchange: Exchange) -> str:
        async with anyio.create_task_group() as tg:

            async def ask(request: types.InputRequest) -> None:
                answers.append(await exchange.ask(request))

            tg.start_soon(ask, ROOTS)
            tg.start_soon(ask, SAMPLE)
        return "done"

    async with anyio.create_task_group() as tg:
        exchange = start(store, tg, call)
        first = await run_round(store, exchange, None, None)
        assert isinstance(first, types.InputRequiredResult)
        assert first.request_state == exchange.id
        assert first.input_requests is not None
        keys = {type(request).__name__: key for key, request in first.input_requests.items()}
        assert set(keys) == {"ListRootsRequest", "CreateMessageRequest"}
        exchange.answer(
            {
                keys["ListRootsRequest"]: {"roots": [{"uri": "file:///a"}]},
                keys["CreateMessageRequest"]: {"not": "a sampling result"},
            }
        )
        assert await run_round(store, exchange, None, None) == "done"
    assert len(store) == 0
    assert types.ListRootsResult(roots=[types.Root.model_validate({"uri": "file:///a"})]) in answers
    assert any(isinstance(answer, types.ErrorData) and answer.code == types.INVALID_PARAMS for answer in answers)


async def test_a_call_that_asks_nothing_answers_in_the_first_round() -> None:
    store = LocalExchanges()

    async def call(exchange: Exchange) -> int:
        return 42

    async with anyio.create_task_group() as tg:
        assert await run_round(store, start(store, tg, call), None, None) == 42
    assert len(store) == 0


async def test_an_exchange_its_client_abandons_is_ended() -> None:
    store = LocalExchanges(ttl=0.2)
    cancelled = anyio.Event()

    async def call(exchange: Exchange) -> None:
        try:
            await exchange.ask(ROOTS)
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            raise

    async with anyio.create_task_group() as tg:
        tg.start_soon(store.expire_forever)
        exchange = start(store, tg, call)
        assert isinstance(await run_round(store, exchange, None, None), types.InputRequiredResult)
        with anyio.fail_after(10):
            await cancelled.wait()
        assert store.get(exchange.id) is None
        tg.cancel_scope.cancel()


async def test_a_failing_call_fails_its_round() -> None:
    store = LocalExchanges()

    async def call(exchange: Exchange) -> None:
        raise ValueError("backend failed")

    async with anyio.create_task_group() as tg:
        with pytest.raises(ValueError, match="backend failed"):
            await run_round(store, start(store, tg, call), None, None)
    assert len(store) == 0
