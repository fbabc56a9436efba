"""Helpers for tests that drive kubemcp installed on the test cluster: waits, kubectl reads, a loopback
port-forward to the gateway Service, one-shot MCP calls."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import mcp_types as types
from mcp.client import Client
from support import bearer, streamable_http_with

GATEWAY = "kubemcp"  # the chart's default MCPGateway
RELEASE = "kubemcp"  # the Helm release the chart tests install


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def get(cluster: Any, namespace: str, *what: str) -> Any:
    out = cluster.kubectl("get", *what, "-n", namespace, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def call_pods(cluster: Any, namespace: str) -> list[dict[str, Any]]:
    listed = get(cluster, namespace, "pods", "-l", "kubemcp.dev/role=call")
    return [] if listed is None else list(listed["items"])


def probe_server(image: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubemcp.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": "probe", "labels": {"kubemcp.dev/gateway": GATEWAY}},
        "spec": {
            "inline": {
                "description": "the test probe",
                "image": image,
                "command": ["probe"],
                "tools": [{"name": n, "description": n} for n in ("whoami", "sleep", "echo")],
            },
            "lifecycle": "perCall",
            "deadlineSeconds": 60,
            "imagePullPolicy": "Never",
        },
    }


def sessioned_server(image: str) -> dict[str, Any]:
    """The probe as a perSession server named `sessioned` (the load client's `persession` kind calls it)."""
    server = probe_server(image)
    server["metadata"]["name"] = "sessioned"
    server["spec"]["inline"]["command"] = ["sessioned"]
    server["spec"]["lifecycle"] = "perSession"
    return server


@contextmanager
def port_forward(cluster: Any, namespace: str, target: str, port: int) -> Iterator[str]:
    """`kubectl port-forward` to a loopback port; yields the MCP URL."""
    argv = [str(cluster.kubectl_path), "--kubeconfig", str(cluster.kubeconfig), "-n", namespace,
            "port-forward", target, f"0:{port}", "--address", "127.0.0.1"]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert match, f"port-forward did not start: {line}"
        yield f"http://127.0.0.1:{match.group(1)}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def gateway_token(cluster: Any, namespace: str, gateway: str = GATEWAY, name: str = "default") -> str:
    """A bearer token of the gateway's tokens Secret (the operator makes `default`)."""
    found = wait_for(lambda: get(cluster, namespace, "secret", f"{gateway}-kubemcp-tokens"), 120, "the tokens Secret")
    return base64.b64decode(found["data"][name]).decode()


def client(url: str, token: str) -> Client:
    return Client(streamable_http_with(url, bearer(token)))


async def call(url: str, tool: str, arguments: dict[str, Any], token: str) -> types.CallToolResult:
    async with client(url, token) as connected:
        return await connected.call_tool(tool, arguments)


def gateway_ready(cluster: Any, namespace: str) -> bool:
    deployment = get(cluster, namespace, "deployment", GATEWAY)
    return bool(deployment and deployment.get("status", {}).get("availableReplicas"))


def listed_tools(url: str, token: str) -> set[str]:
    async def names() -> set[str]:
        async with client(url, token) as connected:
            return {tool.name for tool in (await connected.list_tools()).tools}

    return anyio.run(names)
