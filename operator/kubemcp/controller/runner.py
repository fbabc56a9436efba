"""Running the operator: kopf with the kubemcp handlers, in some namespaces or the whole cluster.

With leader election (the default in a cluster), replicas wait for the operator Lease and only the
holder runs kopf; the others take over when it goes. A small HTTP endpoint answers the probes
in either state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import kopf
from aiohttp import web

from kubemcp.controller.kopf_handlers import register
from kubemcp.controller.leadership import Leadership
from kubemcp.controller.options import OperatorOptions
from kubemcp.kube.client import KubeClient
from kubemcp.kube.config import KubeConfig, load_config
from kubemcp.logs import setup_logging

logger = logging.getLogger(__name__)


def run(options: OperatorOptions, *, debug: bool = False) -> None:
    """Block until SIGINT or SIGTERM (or, when leading, until the Lease is lost: exit code 1)."""
    setup_logging(debug=debug)
    if not debug:
        for noisy in ("kopf", "kopf.objects", "kopf.activities"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    config = load_config(options.kubeconfig)  # a broken kubeconfig fails here, before kopf starts
    if options.kubeconfig:
        os.environ["KUBECONFIG"] = options.kubeconfig  # kopf's own watches use the same credentials
    scope = "all namespaces" if options.all_namespaces else ", ".join(options.namespaces)
    logger.info("kubemcp operator starting (%s; gateway image %s)", scope, options.gateway_image)
    lost = asyncio.run(_main(options, config))
    if lost:
        raise SystemExit(1)


async def _main(options: OperatorOptions, config: KubeConfig) -> bool:
    """Returns True when the Lease was lost (the caller exits non-zero, so the Pod restarts as a standby)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for received in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(received, stop.set)
    leadership: Leadership | None = None
    async with KubeClient(config) as kube, _probes(options.liveness, lambda: leadership):
        if options.leader_election:
            identity = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
            leadership = Leadership(kube, options.lease_namespace or config.namespace, options.lease_name, identity)
            acquired = asyncio.create_task(leadership.acquire())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({acquired, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not acquired.done():
                acquired.cancel()
                stopped.cancel()
                return False
            stopped.cancel()
        lost = asyncio.Event()
        keeper = asyncio.create_task(leadership.keep(lost)) if leadership is not None else None
        flag = asyncio.Event()

        async def relay() -> None:
            await asyncio.wait(
                {asyncio.create_task(stop.wait()), asyncio.create_task(lost.wait())},
                return_when=asyncio.FIRST_COMPLETED,
            )
            flag.set()

        relaying = asyncio.create_task(relay())
        registry = kopf.OperatorRegistry()
        register(registry, options, config)
        try:
            await kopf.operator(
                registry=registry,
                clusterwide=options.all_namespaces,
                namespaces=list(options.namespaces),
                standalone=True,
                stop_flag=flag,
            )
        finally:
            relaying.cancel()
            if keeper is not None:
                keeper.cancel()
            if leadership is not None and not lost.is_set():
                await leadership.release()
        return lost.is_set()


@contextlib.asynccontextmanager
async def _probes(url: str | None, leadership: Callable[[], Leadership | None]) -> AsyncIterator[None]:
    """`/healthz` for the kubelet, answering while the replica leads and while it waits."""
    if url is None:
        yield
        return
    where = urlsplit(url)

    async def health(request: web.Request) -> web.Response:
        current = leadership()
        return web.json_response({"status": "ok", "leading": current is None or current.leading})

    app = web.Application()
    app.router.add_get(where.path or "/healthz", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, where.hostname or "0.0.0.0", where.port or 8080)
    await site.start()
    try:
        yield
    finally:
        await runner.cleanup()
