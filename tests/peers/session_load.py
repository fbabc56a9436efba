"""Sessions of every kind against a gateway, from inside the cluster; prints a JSON summary on stdout.

    python session_load.py --url http://IP:8811 --seconds 30 [--sessions 2] [--transport streaming|sse]

Every HTTP request opens a new connection (no keep-alive), so a Service spreads the requests of one
session over the gateway's replicas. Streamable HTTP runs 2025-06-18 sessions (POST and the GET
stream), stateless 2026-07-28 requests and sessions on a per-session server (whose instance must
stay one per session); `--transport sse` runs legacy SSE sessions. Each call either returns what
was asked or counts as failed with its error; a failed session is opened again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx2
from mcp.client import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

NO_REUSE = httpx2.Limits(max_connections=100, max_keepalive_connections=0)
TIMEOUT = httpx2.Timeout(30.0, read=120.0)
BOUND = 60.0  # no session opening and no call may take longer than this


class Tally:
    def __init__(self) -> None:
        self.kinds: dict[str, dict[str, Any]] = {}
        # (wall clock, kind, ok, began): when each result came, and when its call (or session) began
        self.events: list[tuple[float, str, bool, float]] = []

    def add(self, kind: str, ok: bool, error: str = "", began: float | None = None) -> None:
        now = round(time.time(), 2)
        self.events.append((now, kind, ok, now if began is None else round(began, 2)))
        entry = self.kinds.setdefault(kind, {"ok": 0, "failed": 0, "errors": []})
        if ok and not entry["ok"]:
            print(f"first answer: {kind}", file=sys.stderr, flush=True)  # for a watcher of the Pod's log
        entry["ok" if ok else "failed"] += 1
        if error and len(entry["errors"]) < 10:
            entry["errors"].append(f"{time.strftime('%H:%M:%S')} {error}")


def value(result: Any) -> Any:
    if result.is_error:
        raise RuntimeError(f"tool error: {result.content}")
    structured = result.structured_content
    if structured is not None:
        return structured.get("result", structured)
    return result.content[0].text


def http_client(headers: dict[str, str] | None = None, timeout: Any = None, auth: Any = None) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(limits=NO_REUSE, timeout=TIMEOUT, headers=headers, auth=auth)


async def run_sessions(
    kind: str, opener: Callable[[], Any], tool: str, deadline: float, tally: Tally, check_instance: bool = False
) -> None:
    count = 0
    while time.monotonic() < deadline:
        opened = False
        began = time.time()
        try:
            # The whole session is bounded (a hung opening counts as a failure); each call is bounded too.
            with anyio.fail_after(max(deadline - time.monotonic(), 0) + BOUND):
                async with opener() as client:
                    opened = True
                    instances: set[Any] = set()
                    while time.monotonic() < deadline:
                        count += 1
                        began = time.time()
                        with anyio.fail_after(BOUND):
                            if tool.endswith("whoami"):
                                instances.add(value(await client.call_tool(tool, {}))["pid"])
                            else:
                                echoed = value(await client.call_tool(tool, {"text": f"{kind} {count}"}))
                                if echoed != f"{kind} {count}":
                                    raise RuntimeError(f"wrong answer {echoed!r}")
                        tally.add(kind, True, began=began)
                        if check_instance and len(instances) > 1:
                            tally.add(f"{kind}-instance-changed", False, f"instances {sorted(instances)}")
                            break
                        await anyio.sleep(0.05)
        except Exception as exc:
            where = "call" if opened else "session"
            while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
                inner = exc.exceptions[0]
                if not isinstance(inner, Exception):
                    break
                exc = inner  # the cause, not the task group that carried it
            tally.add(kind, False, f"{where}: {type(exc).__name__}: {exc}", began=began)
            await anyio.sleep(0.2)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="the gateway, e.g. http://10.215.0.12:8811")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--transport", choices=["streaming", "sse"], default="streaming")
    parser.add_argument("--token", default=None)
    parser.add_argument("--events", action="store_true", help="also print when each result came")
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
    deadline = time.monotonic() + args.seconds
    tally = Tally()

    def streaming(mode: str) -> Callable[[], Any]:
        def opener() -> Any:
            http = http_client(headers)
            return Client(streamable_http_client(f"{args.url}/mcp", http_client=http), mode=mode)

        return opener

    def sse() -> Any:
        return Client(sse_client(f"{args.url}/sse", headers=headers, httpx_client_factory=http_client))

    async with anyio.create_task_group() as tg:
        for _ in range(args.sessions):
            if args.transport == "sse":
                tg.start_soon(run_sessions, "sse", sse, "probe__echo", deadline, tally)
                continue
            tg.start_soon(run_sessions, "2025", streaming("legacy"), "probe__echo", deadline, tally)
            tg.start_soon(run_sessions, "2026", streaming("auto"), "probe__echo", deadline, tally)
            tg.start_soon(run_sessions, "persession", streaming("legacy"), "sessioned__whoami", deadline, tally, True)
    summary: dict[str, Any] = {"kinds": tally.kinds}
    if args.events:
        summary["events"] = tally.events
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    anyio.run(main)
