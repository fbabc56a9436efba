"""The operator on the real test cluster: `kubemcp operator` runs on this machine as a subprocess and
reconciles MCPCatalogs, MCPServers and MCPGateways applied with kubectl."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
import yaml
from cluster.harness import ClusterError
from cluster.waiting import holds_for
from cluster_pods import record_figures

pytestmark = pytest.mark.cluster

KUBEMCP = Path(sys.executable).parent / "kubemcp"
SECRET_VALUE = "operator-s3cret-" + "4d1c"
T = TypeVar("T")
Obj = dict[str, Any]


def until(check: Callable[[], T | None], timeout: float = 90, what: str = "a condition") -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (subprocess.CalledProcessError, KeyError, IndexError, TypeError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return cast(T, last)
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Operator:
    """`kubemcp operator --namespace NS` as a child process, its log in a file."""

    def __init__(self, cluster: Any, namespace: str, log: Path, gateway_image: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.log_path = log
        self.gateway_image = gateway_image
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Operator:
        argv = [
            str(KUBEMCP), "operator", "--namespace", self.namespace, "--kubeconfig", str(self.cluster.kubeconfig),
            "--gateway-image", self.gateway_image, "--image-pull-policy", "Never", "--interval", "2",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.cluster.env())
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as when a node dies."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Kube:
    """kubectl in one namespace, returning parsed JSON."""

    def __init__(self, cluster: Any, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    def apply(self, *objects: Obj) -> None:
        text = yaml.safe_dump_all(list(objects))
        self.cluster.kubectl("apply", "--server-side", "-f", "-", input=text, namespace=self.namespace)

    def get(self, kind: str, name: str | None = None, selector: str | None = None) -> Any:
        args = ["get", kind, *([name] if name else []), "-o", "json"]
        if selector:
            args += ["-l", selector]
        out = self.cluster.kubectl(*args, namespace=self.namespace, check=name is None)
        if out.returncode != 0:
            return None
        return json.loads(out.stdout)

    def items(self, kind: str, selector: str | None = None) -> list[Obj]:
        found: list[Obj] = self.get(kind, selector=selector)["items"]
        return found

    def status(self, kind: str, name: str) -> Obj:
        obj = self.get(kind, name)
        return (obj or {}).get("status") or {}

    def condition(self, kind: str, name: str, type_: str) -> Obj | None:
        for item in self.status(kind, name).get("conditions") or []:
            if item["type"] == type_:
                found: Obj = item
                return found
        return None

    def absent(self, kind: str, name: str) -> bool:
        return self.get(kind, name) is None

    def delete(self, kind: str, name: str) -> None:
        self.cluster.kubectl("delete", kind, name, "--wait=false", namespace=self.namespace)

    def events(self, name: str) -> list[Obj]:
        return [e for e in self.items("events") if e["involvedObject"].get("name") == name]


def resource(kind: str, name: str, spec: Obj, labels: dict[str, str] | None = None) -> Obj:
    metadata: Obj = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "kubemcp.dev/v1alpha1", "kind": kind, "metadata": metadata, "spec": spec}


def examples_catalog(images: dict[str, str]) -> Obj:
    """examples/kubernetes/catalog.yaml with the images built for this cluster."""
    catalog: Obj = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "examples/kubernetes/catalog.yaml").read_text()
    )
    catalog["spec"]["entries"]["dice"]["image"] = images["dice"]
    catalog["spec"]["entries"]["notes"]["image"] = images["notes"]
    return catalog


def dice_server(name: str = "dice", **spec: Any) -> Obj:
    labels = spec.pop("labels", None)
    return resource("MCPServer", name, {"catalogRef": {"name": "examples", "entry": "dice"}, **spec}, labels)


def running(pods: list[Obj]) -> list[Obj]:
    return [
        p
        for p in pods
        if p["status"].get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
        and any("running" in (c.get("state") or {}) for c in p["status"].get("containerStatuses") or [])
    ]


@pytest.fixture
def operator(cluster: Any, namespace: str, tmp_path: Path, product_images: dict[str, str]) -> Iterator[Operator]:
    started = Operator(cluster, namespace, tmp_path / "operator.log", product_images["kubemcp"])
    yield started.start()
    started.stop()
    if os.environ.get("KUBEMCP_SHOW_OPERATOR_LOG"):
        print(started.log)


def test_bad_resources_get_conditions_and_events_and_the_operator_keeps_running(
    kube: Kube, operator: Operator, product_images: dict[str, str]
) -> None:
    kube.apply(dice_server("orphan"), resource("MCPServer", "notes", {"catalogRef": {"name": "examples"}}))
    until(lambda: (kube.condition("mcpserver", "orphan", "Resolved") or {}).get("reason") == "CatalogNotFound")
    ready = kube.condition("mcpserver", "orphan", "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "CatalogNotFound")
    assert kube.status("mcpserver", "orphan")["observedGeneration"] == 1
    events = until(lambda: kube.events("orphan"), what="an Event")
    assert events[0]["type"] == "Warning"
    assert events[0]["reason"] == "CatalogNotFound"

    kube.apply(examples_catalog(product_images))  # the catalog appears: its users resolve
    until(lambda: (kube.condition("mcpserver", "orphan", "Resolved") or {}).get("status") == "True")
    notes = until(lambda: kube.condition("mcpserver", "notes", "Resolved"))
    assert (notes["status"], notes["reason"]) == ("False", "InvalidConfig")  # db_path is required
    assert "db_path" in notes["message"]
    catalog = until(lambda: kube.condition("mcpcatalog", "examples", "Ready"))
    assert catalog["status"] == "True"
    assert kube.status("mcpcatalog", "examples")["entries"] == 2

    with pytest.raises(ClusterError, match="less than or equal to 86400"):  # the schema rejects it
        kube.apply(dice_server("orphan", warmPool=5, deadlineSeconds=10**6))
    holds_for(operator.alive, 3, "the operator stays up after a rejected object")
    assert "Traceback" not in operator.log


def test_discovery_records_tools_and_reports_a_missing_secret(
    cluster: Any, kube: Kube, operator: Operator, product_images: dict[str, str], namespace: str
) -> None:
    needs_secret = {
        "image": product_images["dice"],
        "command": ["python3", "/app/server.py"],
        "secrets": [{"name": "dice.token", "env": "DICE_TOKEN"}],
    }
    kube.apply(
        examples_catalog(product_images),
        dice_server("dice"),
        resource("MCPServer", "locked", {"inline": needs_secret, "secretName": "dice-secrets"}),
    )
    discovered = until(lambda: (kube.condition("mcpserver", "dice", "Discovered") or {}).get("status") == "True")
    assert discovered
    status = kube.status("mcpserver", "dice")
    assert status["discovery"]["digest"] == status["resolved"]["digest"]
    assert {tool["name"] for tool in status["discovery"]["tools"]} == {"roll", "roll_notation"}
    assert "inputSchema" in status["discovery"]["tools"][0]
    assert [prompt["name"] for prompt in status["discovery"]["prompts"]] == ["initiative"]
    assert (kube.condition("mcpserver", "dice", "Ready") or {}).get("status") == "True"
    until(lambda: kube.items("pods", "kubemcp.dev/role=discovery,kubemcp.dev/server=dice") == [] or None)

    failed = until(lambda: (kube.condition("mcpserver", "locked", "Discovered") or {}).get("status") == "False")
    assert failed
    condition = kube.condition("mcpserver", "locked", "Discovered")
    assert condition is not None
    assert condition["reason"] == "CreateContainerConfigError"
    assert "dice-secrets" in condition["message"]
    assert operator.alive()
    warnings = until(lambda: [e for e in kube.events("locked") if e["reason"] == "CreateContainerConfigError"])
    assert warnings[0]["type"] == "Warning"

    secret = subprocess.run(
        [str(KUBEMCP), "secret", "set", f"dice.token={SECRET_VALUE}", "--kubernetes", "--namespace", namespace,
         "--secret-name", "dice-secrets", "--kubeconfig", str(cluster.kubeconfig)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert secret.returncode == 0, secret.stderr
    listed = subprocess.run(
        [str(KUBEMCP), "secret", "ls", "--kubernetes", "-n", namespace, "--secret-name", "dice-secrets",
         "--kubeconfig", str(cluster.kubeconfig)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.stdout.split() == ["dice.token"]
    assert SECRET_VALUE not in listed.stdout + listed.stderr + secret.stdout + secret.stderr
    # retried with backoff (10 s, 20 s, ...) until the Secret exists
    until(lambda: (kube.condition("mcpserver", "locked", "Discovered") or {}).get("status") == "True", timeout=120)
    everything = json.dumps([kube.get("mcpserver", "locked"), kube.items("events")]) + operator.log
    assert SECRET_VALUE not in everything


def test_gateway_objects_are_owned_serve_discovered_tools_and_go_with_it(
    kube: Kube, operator: Operator, product_images: dict[str, str], namespace: str
) -> None:
    gateway_spec = {"serverSelector": {"matchLabels": {"serve": "yes"}}, "imagePullPolicy": "Never"}
    kube.apply(
        examples_catalog(product_images),
        dice_server("dice", labels={"serve": "yes"}),
        dice_server("hidden"),
        resource("MCPGateway", "mcp", gateway_spec),
    )
    until(lambda: (kube.condition("mcpserver", "dice", "Discovered") or {}).get("status") == "True")
    gateway = kube.get("mcpgateway", "mcp")
    uid = gateway["metadata"]["uid"]
    names = {
        "serviceaccount": "mcp-kubemcp-gateway",
        "role": "kubemcp-gateway-mcp",
        "rolebinding": "kubemcp-gateway-mcp",
        "configmap": "mcp-kubemcp-gateway",
        "deployment": "mcp",
        "service": "mcp",
    }
    for kind, name in names.items():
        obj = until(partial(kube.get, kind, name), what=f"{kind} {name}")
        assert [ref["uid"] for ref in obj["metadata"]["ownerReferences"]] == [uid], kind

    def configmap_names_dice_discovery() -> Obj | None:
        data = kube.get("configmap", "mcp-kubemcp-gateway")["data"]
        refs = yaml.safe_load(data.get("discovery.yaml") or "{}").get("servers") or {}
        return data if "dice" in refs else None

    data = until(configmap_names_dice_discovery, what="the ConfigMap to name dice's recorded discovery")
    registry = yaml.safe_load(data["catalog.yaml"])["registry"]
    assert list(registry) == ["dice"]
    assert registry["dice"]["kubernetes"]["namespace"] == namespace
    ref = yaml.safe_load(data["discovery.yaml"])["servers"]["dice"]
    assert ref["digest"] == kube.status("mcpserver", "dice")["discovery"]["digest"]

    deployment = kube.get("deployment", "mcp")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == product_images["kubemcp"]
    assert "--from-configmap" in container["args"]
    status = until(lambda: kube.status("mcpgateway", "mcp").get("endpoint") and kube.status("mcpgateway", "mcp"))
    assert status["endpoint"] == f"mcp.{namespace}.svc:8811"
    assert status["servers"] == ["dice"]
    ready = until(
        lambda: (kube.condition("mcpgateway", "mcp", "Ready") or {}).get("status") == "True",
        timeout=120,
        what="the gateway Deployment to become available",
    )
    assert ready

    for obj in (kube.get("mcpgateway", "mcp"), kube.get("mcpserver", "dice"), kube.get("mcpcatalog", "examples")):
        assert not obj["metadata"].get("finalizers"), "deleting must never wait for the operator"
    kube.delete("mcpgateway", "mcp")
    until(partial(kube.absent, "mcpgateway", "mcp"))
    for kind, name in names.items():
        until(partial(kube.absent, kind, name), what=f"{kind} {name} to be removed")


def test_warm_pool_fills_and_refills_after_a_claim(
    kube: Kube, operator: Operator, product_images: dict[str, str]
) -> None:
    kube.apply(examples_catalog(product_images), dice_server("dice", warmPool=2))
    pool = "kubemcp.dev/server=dice,kubemcp.dev/role=pool"

    def two_running() -> list[Obj] | None:
        found = running(kube.items("pods", pool))
        return found if len(found) == 2 else None

    first = until(two_running, what="two running pool Pods")
    digest = kube.status("mcpserver", "dice")["resolved"]["digest"]
    for pod in first:
        assert pod["metadata"]["labels"]["kubemcp.dev/digest"] == digest
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "MCPServer"
    until(lambda: kube.status("mcpserver", "dice").get("warmPool") == {"desired": 2, "ready": 2})

    claimed = first[0]["metadata"]["name"]  # what a gateway does when it takes a warm Pod
    kube.cluster.kubectl(
        "label", "pod", claimed, "kubemcp.dev/role=call", "kubemcp.dev/claimed=test", "--overwrite",
        namespace=kube.namespace,
    )  # fmt: skip
    refilled = until(two_running, what="the pool to refill")
    assert claimed not in {pod["metadata"]["name"] for pod in refilled}
    assert kube.get("pod", claimed) is not None  # the claimed Pod is the caller's now

    kube.apply(dice_server("dice", warmPool=1))
    until(lambda: len([p for p in kube.items("pods", pool) if not p["metadata"].get("deletionTimestamp")]) == 1)
    until(lambda: kube.status("mcpserver", "dice").get("warmPool") == {"desired": 1, "ready": 1})


@pytest.mark.fault("operator killed mid-reconcile")
def test_restarting_the_operator_mid_reconcile_converges(
    kube: Kube, operator: Operator, product_images: dict[str, str]
) -> None:
    kube.apply(
        examples_catalog(product_images),
        dice_server("dice", warmPool=2, labels={"serve": "yes"}),
        resource("MCPGateway", "mcp", {"imagePullPolicy": "Never"}),
    )
    until(lambda: kube.items("pods", "kubemcp.dev/role=discovery"), what="a discovery Pod")
    operator.kill()  # in the middle: discovery running, the pool starting, the gateway half made
    restarted = time.monotonic()
    operator.start()
    until(lambda: (kube.condition("mcpserver", "dice", "Discovered") or {}).get("status") == "True")
    pool = "kubemcp.dev/server=dice,kubemcp.dev/role=pool"
    until(lambda: kube.status("mcpserver", "dice").get("warmPool") == {"desired": 2, "ready": 2})
    converged = time.monotonic() - restarted
    holds_for(  # a few more passes: nothing more is made
        lambda: len([p for p in kube.items("pods", pool) if not p["metadata"].get("deletionTimestamp")]) == 2,
        5,
        "exactly two pool Pods",
    )
    assert len(kube.items("deployments")) == 1
    registry = until(
        lambda: yaml.safe_load(kube.get("configmap", "mcp-kubemcp-gateway")["data"]["catalog.yaml"])["registry"]
    )
    assert "dice" in registry
    until(lambda: kube.items("pods", "kubemcp.dev/role=discovery") == [] or None, timeout=120)
    assert kube.items("jobs") == []
    assert operator.alive()
    # what the interrupted reconcile made goes with what asked for it: no Pod is left behind
    kube.delete("mcpserver", "dice")
    until(lambda: kube.items("pods", "kubemcp.dev/server=dice") == [] or None, timeout=120, what="no dice Pod")
    left = kube.items("jobs") + kube.items("pods", "kubemcp.dev/server=dice")
    record_figures("operator killed mid-reconcile", seconds_to_converge=round(converged, 2), leftovers=len(left))
