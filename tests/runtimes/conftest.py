"""The runtime's cluster tests run a gateway without the operator, so each namespace gets what the operator
would have made in it: the servers' service account."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubemcp.kube.pods import SERVER_SERVICE_ACCOUNT


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
