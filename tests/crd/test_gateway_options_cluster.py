"""The API server itself checks an MCPGateway's `spec.options` against the generated CRD schema."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.cluster


def _create(cluster: Any, namespace: str, options: dict[str, Any], **spec: Any) -> Any:
    body = {
        "apiVersion": "kubemcp.dev/v1alpha1",
        "kind": "MCPGateway",
        "metadata": {"name": "options-check", "namespace": namespace},
        "spec": {"options": options, **spec},
    }
    return cluster.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(body), check=False
    )


def test_the_api_server_validates_gateway_options(cluster: Any, namespace: str) -> None:
    good = {
        "tools": ["dice:*"],
        "logCalls": True,
        "audit": {"enabled": False},
        "interceptors": [{"when": "before", "type": "http", "target": "http://policy:8080/x", "timeoutSeconds": 2}],
        "limits": {"callTimeoutSeconds": 30},
        "metrics": {"port": 9464},
        "tracing": {"otlpEndpoint": "http://otel:4318"},
    }
    prometheus = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    accepted = _create(cluster, namespace, good, metricsAllowedFrom=prometheus)
    assert accepted.returncode == 0, accepted.stderr
    for options, message in (
        ({"interceptors": [{"when": "before", "type": "http", "target": "ftp://x"}]}, "http:// or https:// URL"),
        ({"interceptors": [{"when": "during", "type": "exec", "target": "x"}]}, "Unsupported value"),
        ({"interceptors": [{"when": "before", "type": "exec", "target": "x", "timeoutSeconds": 0}]}, "0.1"),
        ({"tracing": {"otlpEndpoint": "otel:4318"}}, "otlpEndpoint"),
        ({"metrics": {"port": 0}}, "metrics.port"),
        ({"limits": {"sometimes": 1}}, "sometimes"),
    ):
        refused = _create(cluster, namespace, options)
        assert refused.returncode != 0, options
        assert message in refused.stderr, refused.stderr
    refused = _create(cluster, namespace, good, metricsAllowedFrom=[{"podSelector": {"matchLabels": 1}}])
    assert refused.returncode != 0
    assert "metricsAllowedFrom" in refused.stderr, refused.stderr
