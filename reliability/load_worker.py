"""One client process of the load cases: `count` SDK client sessions against the gateway, held open together.

.venv/bin/python reliability/load_worker.py URL FIRST COUNT CALLS_BEFORE CALLS_AFTER TIMEOUT
(the request headers, with the token: one JSON line on stdin)

Each session opens (the 2025 handshake, so a stateful session with its own GET stream) and makes
CALLS_BEFORE calls; when every session of this process got there (or failed), the process prints
`READY <sessions open>` and waits for a `GO` line on stdin (the driver sends it once every process is
ready, so that all sessions of all processes are open at once). Then each session makes CALLS_AFTER
calls and closes; the process prints its result as one JSON line (`RESULT {...}`) and exits. The load
is split over processes because one client process cannot drive a thousand sessions on a small machine
without lagging seconds behind its own sockets, which would measure the client, not the gateway.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for folder in (REPO, REPO / "tests"):
    if str(folder) not in sys.path:
        sys.path.append(str(folder))

import anyio  # noqa: E402
import anyio.to_thread  # noqa: E402
from mcp.client import Client  # noqa: E402
from support import streamable_http_with, tool_value  # noqa: E402

CONNECTING_AT_ONCE = 10  # per process: clients arrive over time, not all in one instant


def leaf_problem(number: int, exc: BaseException) -> str:
    leaf: BaseException = exc
    while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:  # name what went wrong inside
        leaf = leaf.exceptions[0]
    cause = leaf.__cause__ or leaf.__context__
    detail = f" (from {type(cause).__name__}: {str(cause)[:100]})" if cause is not None and not str(leaf) else ""
    return f"session {number}: {type(leaf).__name__}: {str(leaf)[:200]}{detail}"


async def drive(
    url: str, headers: dict[str, str], first: int, count: int, before: int, after: int, timeout: float
) -> None:
    # latencies_ms: the measured calls (all sessions open); opening_ms: the calls made while opening.
    result: dict[str, Any] = {"tried": 0, "passed": 0, "latencies_ms": [], "opening_ms": [], "problems": []}
    arrived = failed_early = 0
    everyone_here = anyio.Event()
    go = anyio.Event()
    gate = anyio.Semaphore(CONNECTING_AT_ONCE)

    def arrive() -> None:
        nonlocal arrived
        arrived += 1
        if arrived == count:
            everyone_here.set()

    async def call(client: Client, text: str, measured: bool) -> None:
        began = time.perf_counter()
        answer = tool_value(await client.call_tool("echo", {"text": text}))
        result["latencies_ms" if measured else "opening_ms"].append((time.perf_counter() - began) * 1000)
        if answer != text:
            raise AssertionError(f"wrong answer {answer!r}")

    async def session(number: int) -> None:
        ok, here = False, False
        try:
            with anyio.fail_after(timeout):
                async with gate:
                    client = Client(streamable_http_with(url, headers), mode="legacy", read_timeout_seconds=timeout)
                    await client.__aenter__()
                try:
                    for index in range(before):
                        await call(client, f"{number}-{index}", measured=False)
                    here = True
                    arrive()
                    await go.wait()
                    for index in range(before, before + after):
                        await call(client, f"{number}-{index}", measured=True)
                    ok = True
                finally:
                    await client.__aexit__(None, None, None)
        except Exception as exc:
            if len(result["problems"]) < 5:
                result["problems"].append(leaf_problem(number, exc))
        if not here:
            nonlocal failed_early
            failed_early += 1
            arrive()  # a failed session must not hold the others at the barrier
        result["tried"] += 1
        result["passed"] += ok

    async def wait_for_go() -> None:
        await everyone_here.wait()
        print(f"READY {count - failed_early}", flush=True)
        while (await anyio.to_thread.run_sync(sys.stdin.readline)).strip() not in ("GO", ""):
            pass  # "" is the driver gone: go on, so that the process ends
        go.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_for_go)
        for number in range(first, first + count):
            tg.start_soon(session, number)
    result["cpu_seconds"] = time.process_time()
    print("RESULT " + json.dumps(result), flush=True)


def main(argv: list[str]) -> None:
    url, first, count, before, after, timeout = argv
    headers = json.loads(sys.stdin.readline())  # the token: not on the command line
    anyio.run(drive, url, headers, int(first), int(count), int(before), int(after), float(timeout))


if __name__ == "__main__":
    main(sys.argv[1:])
