"""What the Kubernetes runtime's cluster tests share: the probe's catalog entry, the Pods and Jobs a
namespace holds, a gateway's metrics, and where a fault run records its figures."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import anyio

SECRET = "cluster-s3cret-" + "77e1"
PROBE_TOOLS = ("whoami", "env", "sleep", "crash", "echo", "allocate")
# Set by `reliability/cluster_run.py`: each fault test appends one JSON line of figures to this file.
FIGURES_ENV = "KUBEMCP_FAULT_FIGURES"


def probe_entry(image: str, *, tools: tuple[str, ...] = PROBE_TOOLS, **kubernetes: Any) -> dict[str, Any]:
    return {
        "description": "the test probe as an image",
        "image": image,
        "command": ["probe"],
        "kubernetes": {"imagePullPolicy": "Never", "secretName": "probe-secrets", **kubernetes},
        "secrets": [{"name": "probe.token", "env": "PROBE_TOKEN"}],
        "tools": [{"name": name, "description": name} for name in tools],
    }


def pods(cluster: Any, namespace: str, selector: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
    items: list[dict[str, Any]] = json.loads(out.stdout if hasattr(out, "stdout") else out)["items"]
    return items


def leftovers(cluster: Any, namespace: str) -> list[str]:
    """The server Pods and Jobs in the namespace, as `kind/name`."""
    found = []
    for kind in ("pods", "jobs"):
        out = cluster.kubectl("get", kind, "-n", namespace, "-l", "app.kubernetes.io/managed-by=kubemcp", "-o", "json")
        found += [f"{kind}/{item['metadata']['name']}" for item in json.loads(out.stdout)["items"]]
    return found


async def leftovers_after(cluster: Any, namespace: str, timeout: float = 90) -> list[str]:
    """The server Pods and Jobs still in the namespace once none are left, or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (left := leftovers(cluster, namespace)) and time.monotonic() < deadline:
        await anyio.sleep(0.5)
    return left


async def until(check: Any, timeout: float = 60) -> Any:
    """`check()` once it is truthy, or its last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await anyio.sleep(0.2)
    return check()


def metrics(gateway: Any) -> dict[tuple[Any, ...], float]:
    import httpx2
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[tuple[Any, ...], float] = {}
    for family in text_string_to_metric_families(
        httpx2.get(f"{gateway.base}/metrics", headers=gateway.headers, timeout=10).text
    ):
        for sample in family.samples:
            found[(sample.name, *sorted(sample.labels.items()))] = sample.value
    return found


def started_instances(gateway: Any, server: str) -> float:
    """How many instances of `server` the gateway has started and initialized so far."""
    key = ("kubemcp_instance_start_phase_seconds_count", ("phase", "initialized"), ("server", server))
    return metrics(gateway).get(key, 0)


def record_figures(case: str, **figures: Any) -> None:
    """Append one fault run's figures (seconds to the error, leftovers) for the reliability report."""
    target = os.environ.get(FIGURES_ENV)
    if target:
        with Path(target).open("a") as out:
            out.write(json.dumps({"case": case, **figures}) + "\n")
