"""`--metrics-port`: `/metrics` alone on a second port, outside whatever guards the main one (for a
Prometheus that has no credentials; keep the port off public networks)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import uvicorn

from kubemcp.gateway.observe.routes import metrics_app

logger = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """No signal handling of its own: the gateway stops it with everything else."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_metrics(host: str, port: int) -> None:
    config = uvicorn.Config(metrics_app(), host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    server = _Server(config)

    async def announce() -> None:
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
            await anyio.sleep(0.01)
        for listener in server.servers:
            for sock in listener.sockets:
                bound_host, bound_port = sock.getsockname()[:2]
                logger.info("serving metrics on http://%s:%d/metrics", bound_host, bound_port)

    async with anyio.create_task_group() as tg:
        tg.start_soon(announce)
        try:
            await server.serve()
        finally:
            tg.cancel_scope.cancel()
