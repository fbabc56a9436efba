"""Putting the gateway together: settings -> runtime -> core -> MCP server -> transport."""

from __future__ import annotations

import logging
import os
import signal
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import anyio

import kubemcp
from kubemcp.gateway.core import Gateway
from kubemcp.gateway.draining import Drain, InFlight
from kubemcp.gateway.mcp_handlers import build_server
from kubemcp.gateway.observe.metrics_port import serve_metrics
from kubemcp.gateway.observe.state_metrics import GatewayState, registered
from kubemcp.gateway.replicas.setup import replicas_from
from kubemcp.gateway.settings import GatewaySettings, kubemcp_home
from kubemcp.gateway.stdio import serve_stdio
from kubemcp.gateway.transports import serve_http
from kubemcp.model.runtime import Runtime
from kubemcp.runtimes.docker_engine import DockerEngineRuntime
from kubemcp.runtimes.local import LocalRuntime
from kubemcp.runtimes.routing import WithRemote, kube_remote, local_remote
from kubemcp.telemetry.tracing import setup_tracing

logger = logging.getLogger(__name__)


def _owner_from_environment() -> dict[str, Any] | None:
    """In a cluster, per-call Pods are owned by the gateway's own Pod (downward API), so they go with it."""
    name, uid = os.environ.get("POD_NAME"), os.environ.get("POD_UID")
    if not name or not uid:
        return None
    return {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid, "blockOwnerDeletion": False}


@asynccontextmanager
async def prepared(settings: GatewaySettings) -> AsyncIterator[tuple[GatewaySettings, Runtime]]:
    """The runtime the settings ask for, and settings completed from a cluster ConfigMap if named."""
    if settings.runtime == "local":
        store = settings.secrets if settings.secrets is not None else kubemcp_home() / "secrets.env"
        local = LocalRuntime(DockerEngineRuntime(settings.engine, network=settings.container_network))
        await local.engine.start()
        try:
            yield settings, WithRemote(local, local_remote(store))
        finally:
            with anyio.CancelScope(shield=True):
                await local.aclose()
        return
    from kubemcp.gateway.configmap_files import ConfigMapFiles
    from kubemcp.kube.client import KubeClient
    from kubemcp.kube.config import load_config
    from kubemcp.runtimes.kubernetes_pods import KubernetesRuntime

    config = load_config(settings.kubeconfig, namespace=settings.namespace)
    async with AsyncExitStack() as stack:
        kube = await stack.enter_async_context(KubeClient(config))
        pods = KubernetesRuntime(
            kube,
            config.namespace,
            gateway=settings.gateway_name,
            owner=_owner_from_environment(),
            pull_policy=settings.image_pull_policy,
            start_timeout=settings.start_timeout,
        )
        await stack.enter_async_context(pods.removals.running())
        runtime = WithRemote(pods, kube_remote(kube, config.namespace))
        if settings.from_configmap is None:
            yield settings, runtime
            return
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kubemcp-")))
        files = ConfigMapFiles(kube, config.namespace, settings.from_configmap, folder)
        await files.sync()
        settings = settings.model_copy(
            update={
                "catalogs": [files.catalog],
                "registry": files.registry,
                "config": files.config,
                "options_file": files.options,
                "authz": files.authz,
            }
        )
        tg = await stack.enter_async_context(anyio.create_task_group())
        tg.start_soon(files.follow, settings.watch_interval)
        try:
            yield settings, runtime
        finally:
            tg.cancel_scope.cancel()


async def run_gateway(settings: GatewaySettings) -> None:
    async with prepared(settings) as (settings, runtime):
        kube = getattr(runtime, "kube", None)
        replicas = replicas_from(settings, kube, getattr(runtime, "namespace", None))
        gateway = Gateway(settings, runtime)
        inflight = InFlight()
        server = build_server(gateway, inflight)
        tracing = setup_tracing(gateway.options.otlp_endpoint, "kubemcp-gateway", _trace_attributes(settings))
        logger.info(
            "kubemcp gateway (%s runtime): %d servers enabled (%s)",
            runtime.name,
            len(gateway.specs),
            ", ".join(gateway.specs) or "none",
        )
        state = GatewayState(gateway, replicas.peers if replicas is not None else None)
        drain = Drain(settings.shutdown_grace, inflight)
        async with gateway.running(), anyio.create_task_group() as tg:

            async def on_signals() -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for received in signals:
                        again = drain.requested.is_set()
                        logger.info(
                            "stopping on %s%s", received.name, " again: not waiting any longer" if again else ""
                        )
                        drain.signal()

            tg.start_soon(on_signals)
            if gateway.options.metrics_port is not None:
                tg.start_soon(serve_metrics, settings.host, gateway.options.metrics_port)
            try:
                with registered(state):
                    if settings.transport == "stdio":
                        await serve_stdio(server, drain)
                    else:
                        await serve_http(gateway, server, settings, drain, replicas)
            finally:
                if tracing is not None:
                    tracing.shutdown()
            tg.cancel_scope.cancel()
        logger.info("gateway stopped")


def _trace_attributes(settings: GatewaySettings) -> dict[str, str]:
    attributes = {"service.version": kubemcp.__version__}
    if settings.gateway_name:
        attributes["kubemcp.gateway"] = settings.gateway_name
    if os.environ.get("POD_NAME"):
        attributes["k8s.pod.name"] = os.environ["POD_NAME"]
    return attributes


async def dry_run(settings: GatewaySettings, out: TextIO) -> None:
    async with prepared(settings) as (settings, runtime):
        gateway = Gateway(settings, runtime)
        async with gateway.running():
            listing = await gateway.listing(full=True)
    print(f"{len(gateway.specs)} servers, {len(listing.tools)} tools", file=out)
    for name, spec in gateway.specs.items():
        print(f"server {name} ({spec.lifecycle.words})", file=out)
        for public, route in listing.tool_routes.items():
            if route.server == name:
                print(f"  tool {public}" + ("" if public == route.name else f" -> {route.name}"), file=out)
        for public, route in listing.prompt_routes.items():
            if route.server == name:
                print(f"  prompt {public}", file=out)
        for uri, owner in listing.resource_routes.items():
            if owner == name:
                print(f"  resource {uri}", file=out)
    for name, problems in gateway.refused.items():
        print(f"server {name} refused", file=out)
        for problem in problems:
            print(f"  {problem}", file=out)
