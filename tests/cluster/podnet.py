"""Pods that serve and probe HTTP, for tests of the cluster's network (routes, Services, NetworkPolicy)."""

from __future__ import annotations

from typing import Any

from . import manifests
from . import settings as S
from .client import Cluster
from .waiting import wait_for

PORT = 8080
# Prints the HTTP status, or why there was none: "refused" (a TCP reset, or the ICMP
# port-unreachable with which kube-router rejects what a NetworkPolicy denies),
# "timeout" (packets dropped), or "error ...".
PROBE = """
import socket, sys, urllib.error, urllib.request
def outcome():
    try:
        return str(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).status)
    except urllib.error.URLError as e:
        err = e.reason
    except OSError as e:
        err = e
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, (TimeoutError, socket.timeout)):
        return "timeout"
    return f"error {err}"
print(outcome())
"""
# Outcomes of a connection that a NetworkPolicy blocks.
BLOCKED = ("refused", "timeout")


def server(name: str, labels: dict[str, str] | None = None) -> manifests.Manifest:
    """An HTTP server on PORT (python3 -m http.server, as the base image's unprivileged user)."""
    return manifests.pod(
        name,
        S.BASE_IMAGE,
        ["python3", "-m", "http.server", str(PORT)],
        labels=labels or {"app": name},
        restart="Always",
    )


def client(name: str, labels: dict[str, str] | None = None) -> manifests.Manifest:
    """A Pod that idles; probes run in it with ``kubectl exec`` (see probe)."""
    return manifests.pod(name, S.BASE_IMAGE, ["sleep", "infinity"], labels=labels or {"app": name}, restart="Always")


def one_shot_probe(name: str, url: str, timeout: float = 3) -> manifests.Manifest:
    """A Pod that probes ``url`` once and prints the outcome (see PROBE)."""
    return manifests.pod(name, S.BASE_IMAGE, ["python3", "-c", PROBE, url, str(timeout)], labels={"app": name})


def create(cluster: Cluster, namespace: str, *bodies: manifests.Manifest) -> None:
    for body in bodies:
        status, resp = cluster.request("POST", f"/api/v1/namespaces/{namespace}/pods", body)
        if status != 201:
            raise RuntimeError(f"creating pod {body['metadata']['name']}: HTTP {status} {resp}")


def pod(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    status, resp = cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
    if status != 200:
        raise RuntimeError(f"reading pod {name}: HTTP {status} {resp}")
    result: dict[str, Any] = resp
    return result


def wait_running(cluster: Cluster, namespace: str, name: str, timeout: float = 90) -> dict[str, Any]:
    """Wait until the Pod runs with an IP; returns it."""

    def running() -> dict[str, Any] | None:
        p = pod(cluster, namespace, name)
        if p["status"].get("phase") in ("Failed", "Succeeded"):
            raise AssertionError(f"pod {name} ended: {p['status']}")
        return p if p["status"].get("phase") == "Running" and p["status"].get("podIP") else None

    return wait_for(running, timeout, f"pod {name} to run")


def wait_done(cluster: Cluster, namespace: str, name: str, timeout: float = 90) -> str:
    """Wait until a one-shot Pod has finished; returns its log."""
    wait_for(
        lambda: pod(cluster, namespace, name)["status"].get("phase") in ("Succeeded", "Failed"),
        timeout,
        f"pod {name} to finish",
    )
    return str(cluster.kubectl("logs", name, namespace=namespace).stdout)


def url(ip: str) -> str:
    return f"http://{ip}:{PORT}/"


def probe(cluster: Cluster, namespace: str, pod_name: str, target: str, timeout: float = 3) -> str:
    """From inside ``pod_name``: GET ``target``; returns "200", "refused", "timeout" or "error ..." (see PROBE)."""
    res = cluster.kubectl(
        "exec", pod_name, "--", "python3", "-c", PROBE, target, str(timeout), namespace=namespace, timeout=timeout + 30
    )
    return str(res.stdout).strip()


def answers(cluster: Cluster, namespace: str, pod_name: str, target: str, outcome: str) -> bool:
    """Whether a probe from ``pod_name`` to ``target`` has this outcome ("200", or "blocked": see BLOCKED)."""
    got = probe(cluster, namespace, pod_name, target)
    return got in BLOCKED if outcome == "blocked" else got == outcome


def policy(name: str, pod_labels: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    """A NetworkPolicy selecting the Pods with ``pod_labels``."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name},
        "spec": {"podSelector": {"matchLabels": pod_labels}, **spec},
    }


def apply_policy(cluster: Cluster, namespace: str, body: dict[str, Any]) -> None:
    status, resp = cluster.request("POST", f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies", body)
    if status != 201:
        raise RuntimeError(f"creating networkpolicy {body['metadata']['name']}: HTTP {status} {resp}")
