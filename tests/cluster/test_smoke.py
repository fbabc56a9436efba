"""Smoke tests proving the cluster is real: containers run, Jobs finish and expire,
attach carries bytes both ways, RBAC denies, and nothing leaves the namespace."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest
from kubernetes import client
from kubernetes.client import ApiException

from . import harness, images, manifests, netns
from . import settings as S
from .attach import attach
from .plugin import wait_for

pytestmark = pytest.mark.cluster

BASE = S.BASE_IMAGE


# The typed client wants model objects; these tests pass plain manifests (dicts).
def core(api: client.ApiClient) -> Any:
    return client.CoreV1Api(api)


def batch_api(api: client.ApiClient) -> Any:
    return client.BatchV1Api(api)


def rbac_api(api: client.ApiClient) -> Any:
    return client.RbacAuthorizationV1Api(api)


def pod_phase(v1: Any, namespace: str, name: str, phases: tuple[str, ...]) -> str | None:
    phase: str = v1.read_namespaced_pod(name, namespace).status.phase
    if phase == "Failed" and "Failed" not in phases:
        raise AssertionError(f"pod {namespace}/{name} failed: {v1.read_namespaced_pod_log(name, namespace)}")
    return phase if phase in phases else None


def run_to_completion(v1: Any, namespace: str, body: dict[str, Any], timeout: float = 60) -> str:
    name = body["metadata"]["name"]
    v1.create_namespaced_pod(namespace, body)
    wait_for(lambda: pod_phase(v1, namespace, name, ("Succeeded",)), timeout, f"pod {name} to succeed")
    logs: str = v1.read_namespaced_pod_log(name, namespace)
    return logs


def test_pod_runs_and_its_logs_come_back(api_client: client.ApiClient, namespace: str) -> None:
    v1 = core(api_client)
    body = manifests.pod("hello", BASE, ["python3", "-c", "import os; print('hello from uid', os.getuid())"])
    assert run_to_completion(v1, namespace, body) == "hello from uid 1000\n"


def test_job_completes_and_ttl_removes_it(api_client: client.ApiClient, namespace: str) -> None:
    batch = batch_api(api_client)
    batch.create_namespaced_job(
        namespace, manifests.job("done", BASE, ["sh", "-c", "echo finished"], ttl_seconds_after_finished=2)
    )

    def complete() -> bool:
        conds = batch.read_namespaced_job("done", namespace).status.conditions or []
        return any(c.type == "Complete" and c.status == "True" for c in conds)

    wait_for(complete, 60, "job to complete")

    def gone() -> bool:
        try:
            batch.read_namespaced_job("done", namespace)
        except ApiException as e:
            return bool(e.status == 404)
        return False

    wait_for(gone, 60, "ttlSecondsAfterFinished to delete the job")


@pytest.mark.anyio
async def test_attach_carries_stdin_to_stdout(
    cluster: harness.Cluster, api_client: client.ApiClient, namespace: str
) -> None:
    v1 = core(api_client)
    body = manifests.pod("echo", BASE, ["cat"], stdin=True, stdin_once=True)
    await anyio.to_thread.run_sync(lambda: v1.create_namespaced_pod(namespace, body))
    await anyio.to_thread.run_sync(
        lambda: wait_for(lambda: pod_phase(v1, namespace, "echo", ("Running",)), 60, "echo pod to run")
    )
    async with attach(cluster.server, namespace, "echo", ssl_context=cluster.ssl_context()) as session:
        await session.write(b"ping\n")
        with anyio.fail_after(5):  # a bounded wait, not a timing claim
            assert await session.read_until(b"ping\n") == b"ping\n"
        payload = bytes(range(256)) + b"\n"
        await session.write(payload)
        assert await session.read_until(b"\xfe\xff\n") == payload
        await session.close_stdin()
        status = await session.wait_closed(timeout=30)
    if session.protocol.startswith("v5."):
        # stdin closed -> cat exits -> the stream ends with the container.
        assert status is None or status.get("status") == "Success", status
        await anyio.to_thread.run_sync(
            lambda: wait_for(lambda: pod_phase(v1, namespace, "echo", ("Succeeded",)), 30, "echo pod to exit")
        )


def test_service_account_without_rights_is_denied(
    cluster: harness.Cluster, api_client: client.ApiClient, namespace: str
) -> None:
    v1 = core(api_client)
    v1.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})
    token = v1.create_namespaced_service_account_token(
        "nobody", namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token

    status, body = cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods", token=token)
    assert status == 403, body
    assert body["reason"] == "Forbidden"
    assert f"system:serviceaccount:{namespace}:nobody" in body["message"]

    status, _ = cluster.request("POST", f"/api/v1/namespaces/{namespace}/pods/x/attach", token=token)
    assert status == 403

    # RBAC is what decides: a Role that grants listing Pods makes the same call succeed.
    rbac = rbac_api(api_client)
    rbac.create_namespaced_role(
        namespace,
        {"metadata": {"name": "pod-reader"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]},
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "nobody-reads-pods"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "nobody", "namespace": namespace}],
        },
    )
    wait_for(
        lambda: cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods", token=token)[0] == 200,
        10,
        "role binding to take effect",
    )


IN_CLUSTER_CLIENT = """
import json, os, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
ctx = ssl.create_default_context(cafile=sa + "/ca.crt")
url = "https://%s:%s/version" % (os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])
req = urllib.request.Request(url, headers={"Authorization": "Bearer " + open(sa + "/token").read()})
print(json.load(urllib.request.urlopen(req, context=ctx, timeout=10))["gitVersion"])
"""


def test_pod_reaches_apiserver_through_kubernetes_service(api_client: client.ApiClient, namespace: str) -> None:
    v1 = core(api_client)
    logs = run_to_completion(v1, namespace, manifests.pod("incluster", BASE, ["python3", "-c", IN_CLUSTER_CLIENT]))
    assert logs.strip() == S.K8S_VERSION


def test_cluster_is_contained_in_its_network_namespace(
    cluster: harness.Cluster, api_client: client.ApiClient, namespace: str
) -> None:
    assert cluster.server.startswith("https://127.0.0.1:")
    k8s_node = core(api_client).read_node(S.NODE_NAME)
    addrs = {a.type: a.address for a in k8s_node.status.addresses}
    assert addrs["InternalIP"] == S.NODE_IP
    nodes = harness.nodes()
    first = nodes[0]
    assert first.netns == S.NETNS
    for node in nodes:
        routes = subprocess.run(
            [S.IP, "-n", node.netns, "-4", "route", "show"], capture_output=True, text=True, check=True
        )
        default = [r.split() for r in routes.stdout.splitlines() if r.startswith("default")]
        names = set(netns.links(node))
        bridges = {n for n in names if n.startswith("veth")} | {node.bridge}  # Pods' veths
        if node.first:
            # Into a veth pair whose both ends stay in the namespace: a dead end.
            assert default == [["default", "dev", S.VETH_NODE, "scope", "link"]], routes.stdout
            uplinks = {other.uplink for other in nodes[1:]}
            assert names <= {"lo", S.VETH_NODE, S.VETH_PEER} | uplinks | bridges, names
        else:
            # Into node 1's namespace, which has no way out.
            assert default == [["default", "via", first.ip, "dev", S.VETH_NODE, "src", node.ip]], routes.stdout
            assert names <= {"lo", S.VETH_NODE} | bridges, names
    # Pods do not inherit the machine's resolver: at most their own loopback.
    v1 = core(api_client)
    conf = run_to_completion(v1, namespace, manifests.pod("resolv", BASE, ["cat", "/etc/resolv.conf"]))
    servers = [line.split()[1] for line in conf.splitlines() if line.startswith("nameserver")]
    assert all(ipaddress.ip_address(s).is_loopback for s in servers), conf


HELLO_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY hello.py /opt/hello.py
CMD ["python3", "/opt/hello.py"]
"""


def test_built_image_runs(
    tmp_path: Path, cluster: harness.Cluster, api_client: client.ApiClient, namespace: str
) -> None:
    (tmp_path / "hello.py").write_text("print('built without a registry')\n")
    ref = images.build_image(
        tmp_path,
        None,
        "kubemcp/smoke-hello:test",
        dockerfile_text=HELLO_DOCKERFILE,
    )
    assert ref == "localhost/kubemcp/smoke-hello:test"
    images.load_image(ref)
    v1 = core(api_client)
    assert run_to_completion(v1, namespace, manifests.pod("built", ref)) == "built without a registry\n"


def test_helm_installs_a_chart(
    tmp_path: Path, cluster: harness.Cluster, api_client: client.ApiClient, namespace: str
) -> None:
    chart = tmp_path / "smoke"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: smoke\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
        "data:\n  greeting: {{ .Values.greeting }}\n"
    )
    (chart / "values.yaml").write_text("greeting: hello\n")
    cluster.helm("install", "smoke", str(chart), "--namespace", namespace, "--set", "greeting=from-helm", "--wait")
    cm = core(api_client).read_namespaced_config_map("smoke-cm", namespace)
    assert cm.data == {"greeting": "from-helm"}
    assert S.HELM_VERSION in cluster.helm("version", "--short").stdout
