"""The operator's Prometheus metrics (served on `/metrics` beside `/healthz`): reconciles by kind,
trigger and outcome, their durations, the periodic pass and whether this replica leads."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from kubemcp.kube.client import KubeApiError

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

T = TypeVar("T")
CONTENT_TYPE = CONTENT_TYPE_LATEST
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0)

RECONCILES = Counter(
    "kubemcp_operator_reconciles",
    "Reconciles by kind (MCPCatalog, MCPServer, MCPGateway), trigger (event, resync) and outcome "
    "(ok, api_error: retried by the next pass, error).",
    ["kind", "trigger", "outcome"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "kubemcp_operator_reconcile_duration_seconds",
    "Seconds one reconcile took, by kind.",
    ["kind"],
    buckets=BUCKETS,
    registry=REGISTRY,
)
RESYNC_SECONDS = Histogram(
    "kubemcp_operator_resync_duration_seconds",
    "Seconds one periodic pass over every resource took.",
    buckets=BUCKETS,
    registry=REGISTRY,
)
LEADING = Gauge(
    "kubemcp_operator_leading",
    "1 while this replica holds the operator Lease (or runs without one).",
    registry=REGISTRY,
)


async def reconciled(kind: str, trigger: str, work: Awaitable[T]) -> T:
    """Await one reconcile, counting it by outcome and timing it."""
    started = time.perf_counter()
    outcome = "error"
    try:
        result = await work
        outcome = "ok"
        return result
    except KubeApiError:
        outcome = "api_error"
        raise
    finally:
        RECONCILES.labels(kind=kind, trigger=trigger, outcome=outcome).inc()
        RECONCILE_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)


def exposition() -> bytes:
    return generate_latest(REGISTRY)
