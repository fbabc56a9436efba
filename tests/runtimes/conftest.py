"""The runtime's cluster tests run a gateway without the operator, so each namespace gets what the operator
would have made in it: the servers' service account."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cluster_pods import SECRET, probe_entry
from kubemcp.kube.pods import SERVER_SERVICE_ACCOUNT
from support import write_catalog


@pytest.fixture
def namespace(namespace: str, cluster: Any) -> str:
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": SERVER_SERVICE_ACCOUNT},
        "automountServiceAccountToken": False,
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(account))
    return namespace


@pytest.fixture
def secret(cluster: Any, namespace: str) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "probe-secrets", "namespace": namespace},
        "data": {"probe.token": base64.b64encode(SECRET.encode()).decode()},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


@pytest.fixture
def cluster_gateway(
    cluster: Any, namespace: str, product_images: dict[str, str], gateway_process: Any, tmp_path: Path, secret: None
) -> Any:
    """`start(**kubernetes)`: a gateway serving the probe (its entry's `kubernetes` block extended by the
    arguments) from Pods of the test namespace; `start(entries={name: entry, ...})` serves those entries
    (see `cluster_pods.probe_entry`)."""

    def start(*, entries: dict[str, Any] | None = None, **kubernetes: Any) -> Any:
        served = entries if entries is not None else {"probe": probe_entry(product_images["probe"], **kubernetes)}
        catalog = write_catalog(tmp_path / "catalog.yaml", served)
        return gateway_process(
            "--catalog", str(catalog), "--runtime", "kubernetes", "--kubeconfig", str(cluster.kubeconfig),
            "--namespace", namespace, "--gateway-name", "host-gw", "--log-calls", "--debug",
        )  # fmt: skip

    return start
