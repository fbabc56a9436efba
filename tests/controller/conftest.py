"""Fixtures the operator's cluster tests share: kubectl in the test's namespace, and the operator run on this
machine against the test cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from controller.test_operator_cluster import Kube, Operator


@pytest.fixture
def kube(cluster: Any, namespace: str) -> Kube:
    return Kube(cluster, namespace)


@pytest.fixture
def operator(cluster: Any, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    """An operator for MCPGateways with no replicas: their image is never pulled, only their ConfigMaps are
    used (test_operator_cluster.py runs gateways, with the product image, through its own fixture)."""
    started = Operator(cluster, namespace, tmp_path / "operator.log", "kubemcp/kubemcp:not-run")
    yield started.start()
    started.stop()
