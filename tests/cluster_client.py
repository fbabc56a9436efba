"""Helpers for tests that drive kubemcp installed on the test cluster: waits, kubectl reads, a loopback
port-forward to the gateway Service, one-shot MCP calls."""

from __future__ import annotations

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

GATEWAY = "kubemcp"  # the chart's default MCPGateway


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


async def call(url: str, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
    async with Client(url) as client:
        return await client.call_tool(tool, arguments)


def gateway_ready(cluster: Any, namespace: str) -> bool:
    deployment = get(cluster, namespace, "deployment", GATEWAY)
    return bool(deployment and deployment.get("status", {}).get("availableReplicas"))


def listed_tools(url: str) -> set[str]:
    async def names() -> set[str]:
        async with Client(url) as client:
            return {tool.name for tool in (await client.list_tools()).tools}

    return anyio.run(names)
