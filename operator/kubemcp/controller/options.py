"""The operator's options (from `kubemcp operator`)."""

from __future__ import annotations

from dataclasses import dataclass

from kubemcp import __version__

DEFAULT_GATEWAY_IMAGE = f"kubemcp/kubemcp:{__version__}"


@dataclass(frozen=True)
class OperatorOptions:
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    kubeconfig: str | None = None
    gateway_image: str = DEFAULT_GATEWAY_IMAGE
    image_pull_policy: str | None = None  # for server Pods whose MCPServer names none
    liveness: str | None = None
    interval: float = 10.0  # seconds between level-based passes over every resource
    discovery_timeout: float = 180.0
    start_timeout: float = 120.0
    leader_election: bool = False  # replicas take turns through a Lease (the chart turns it on)
    lease_name: str = "kubemcp-operator"
    lease_namespace: str | None = None  # default: the operator's own namespace
