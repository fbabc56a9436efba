"""Putting the replica parts together from the settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

from kubemcp.errors import SettingsError
from kubemcp.gateway.replicas.peers import EndpointSlicePeers, Peers
from kubemcp.gateway.replicas.session_ids import SessionIds
from kubemcp.gateway.settings import GatewaySettings
from kubemcp.kube.api import KubeApi
from kubemcp.signing import Signer


@dataclass
class Replicas:
    ids: SessionIds
    peers: Peers
    sse_token: str  # this replica's name in the legacy SSE post path, signed
    follower: EndpointSlicePeers | None = None

    def adopted(self) -> None:
        self.peers.adopted += 1


def replicas_from(settings: GatewaySettings, kube: KubeApi | None, namespace: str | None) -> Replicas | None:
    """None unless a shared key is configured (a single gateway needs none of this)."""
    if settings.replica_key_file is None:
        return None
    signer = Signer.from_file(settings.replica_key_file)
    address = settings.advertise or _pod_address(settings.port)
    peers = Peers(address=address)
    static = set(settings.peers)
    peers.update(static, static)
    follower = None
    if settings.peers_service is not None:
        if kube is None or namespace is None:
            raise SettingsError("--peers-service needs --runtime kubernetes (the replicas are found through the API)")
        follower = EndpointSlicePeers(kube, namespace, settings.peers_service, settings.port, peers)
    return Replicas(SessionIds(signer, address), peers, signer.sign({"o": address}), follower)


def _pod_address(port: int) -> str:
    address = os.environ.get("POD_IP")
    if not address:
        raise SettingsError("--replica-key-file needs --advertise HOST:PORT (or POD_IP in a cluster)")
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
