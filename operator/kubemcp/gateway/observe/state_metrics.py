"""Metrics read from the gateway's objects when Prometheus scrapes: warm pools, residents, sessions,
served servers and, behind replicas, forwarding and adoption."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubemcp.telemetry.metrics import REGISTRY

if TYPE_CHECKING:
    from kubemcp.gateway.core import Gateway
    from kubemcp.gateway.replicas.peers import Peers


class GatewayState(Collector):
    def __init__(self, gateway: Gateway, peers: Peers | None = None) -> None:
        self.gateway = gateway
        self.peers = peers

    def describe(self) -> Iterable[Metric]:
        return described()

    def collect(self) -> Iterable[Metric]:
        return list(_families(self.gateway, self.peers))


def described() -> list[Metric]:
    """Every family this collector can give, without values (also what dashboards may reference)."""
    return list(_families(None, None))


def _families(gateway: Gateway | None, peers: Peers | None) -> Iterator[Metric]:
    ready = GaugeMetricFamily(
        "kubemcp_warm_pool_ready", "Warm instances started, initialized and waiting for a call.", labels=["server"]
    )
    size = GaugeMetricFamily("kubemcp_warm_pool_size", "Warm instances each server asks for.", labels=["server"])
    residents = GaugeMetricFamily(
        "kubemcp_resident_instances", "Long-lived and per-session instances running.", labels=["server"]
    )
    servers = GaugeMetricFamily("kubemcp_servers", "Servers by state: served or refused.", labels=["state"])
    sessions = GaugeMetricFamily("kubemcp_sessions", "Client sessions connected (handshake-era protocol).")
    if gateway is not None:
        for name, count in gateway.pool.warm_ready().items():
            ready.add_metric([name], count)
        for name, count in gateway.pool.warm_sizes().items():
            size.add_metric([name], count)
        for name, count in gateway.pool.resident_counts().items():
            residents.add_metric([name], count)
        servers.add_metric(["served"], len(gateway.specs))
        servers.add_metric(["refused"], len(gateway.refused))
        sessions.add_metric([], gateway.notifier.count())
    yield from (ready, size, residents, servers, sessions)
    if peers is None and gateway is not None:
        return
    forwarded = CounterMetricFamily(
        "kubemcp_replica_forwarded", "Requests this replica passed on to the replica owning their session."
    )
    adopted = CounterMetricFamily(
        "kubemcp_replica_adopted", "Sessions this replica took over from a replica that was gone."
    )
    peers_ready = GaugeMetricFamily("kubemcp_replica_peers_ready", "Gateway replicas ready, as this one sees them.")
    if peers is not None:
        forwarded.add_metric([], peers.forwarded)
        adopted.add_metric([], peers.adopted)
        peers_ready.add_metric([], len(peers.ready))
    yield from (forwarded, adopted, peers_ready)


@contextmanager
def registered(state: GatewayState) -> Iterator[GatewayState]:
    """In the gateway's registry while the gateway serves."""
    REGISTRY.register(state)
    try:
        yield state
    finally:
        REGISTRY.unregister(state)
