"""The README's quick start, run as a new user would, on a cluster that has never seen kubemcp.

The lines are read from README.md (not a copy): `helm` and `kubectl` lines run as written; `make`
runs as written; `docker build` and `kind load` become the same builds and imports with the test
cluster's image tools, under the same tags (no Docker engine or kind node here); `kind create
cluster` is the test cluster itself. Before that, the kubemcp CRDs are deleted, so nothing is
installed but what the README's lines install.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from cluster import images
from cluster import settings as cluster_settings
from cluster_client import client, gateway_token, get, port_forward, wait_for
from support import REPO, tool_value

NAMESPACE = "kubemcp-system"
CRDS = ("mcpcatalogs.kubemcp.dev", "mcpservers.kubemcp.dev", "mcpgateways.kubemcp.dev")


def quick_start() -> list[list[str]]:
    """The commands of the README's "Quick start with kind" block, continuations joined, comments dropped."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("### Quick start with kind") :]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            commands.append(words)
    return commands


def docker_build(words: list[str], built: dict[str, str]) -> None:
    """`docker build -t TAG [--build-arg K=V]... CONTEXT` with the test cluster's image builder."""
    tag, context, args = "", "", {}
    rest = iter(words[2:])
    for word in rest:
        if word == "-t":
            tag = next(rest)
        elif word == "--build-arg":
            key, _, value = next(rest).partition("=")
            args[key] = value
        else:
            context = word
    assert tag, f"no -t in {words}"
    assert context, f"no build context in {words}"
    # Base images come from a registry this machine cannot reach: the harness's own base stands in
    # for `python:3.11-slim-bookworm`; an image an earlier line built is used under the name it was built as.
    if "BASE_IMAGE" in args:
        args["BASE_IMAGE"] = cluster_settings.BASE_IMAGE
    args = {key: built.get(value, value) for key, value in args.items()}
    built[tag] = images.build_image(REPO / context, "Dockerfile", tag, build_args=args)


def run_line(cluster: Any, words: list[str], built: dict[str, str]) -> str:
    program = words[0]
    if program == "kind" and words[1:3] == ["create", "cluster"]:
        return ""  # the test cluster is that cluster
    if program == "kind" and words[1:3] == ["load", "docker-image"]:
        names = [word for word in words[3:] if not word.startswith("--") and word != "kubemcp"]
        for name in names:
            images.load_image(built[name])
        return ""
    if program == "docker" and words[1] == "build":
        docker_build(words, built)
        return ""
    if program == "make":
        result = subprocess.run(words, cwd=REPO, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout
    if program == "helm":
        return str(cluster.helm(*words[1:], timeout=600).stdout)
    if program == "kubectl":
        return str(cluster.kubectl(*words[1:]).stdout)
    raise AssertionError(f"the quick start has a line this test cannot run: {shlex.join(words)}")


def crds_present(cluster: Any) -> list[str]:
    out = cluster.kubectl("get", "crd", "-o", "json").stdout
    return sorted(item["metadata"]["name"] for item in json.loads(out)["items"] if item["metadata"]["name"] in CRDS)


@pytest.fixture
def fresh_cluster(cluster: Any) -> Iterator[Any]:
    """No kubemcp CRDs and no kubemcp-system namespace; afterwards the release and namespace are gone."""
    cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", timeout=300)
    cluster.kubectl("delete", "crd", *CRDS, "--ignore-not-found", "--wait=true", timeout=300)
    assert crds_present(cluster) == []
    yield cluster
    cluster.helm("uninstall", "kubemcp", "-n", NAMESPACE, "--wait", check=False)
    cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", timeout=300, check=False)
    if crds_present(cluster) != sorted(CRDS):  # later tests need them: the plain path's first step
        cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))


def ready_servers(cluster: Any) -> set[str]:
    listed = get(cluster, NAMESPACE, "mcpservers") or {"items": []}
    ready = set()
    for item in listed["items"]:
        conditions = {c["type"]: c["status"] for c in item.get("status", {}).get("conditions", [])}
        if conditions.get("Ready") == "True":
            ready.add(item["metadata"]["name"])
    return ready


@pytest.mark.cluster
def test_the_readme_quick_start_works_verbatim_on_a_fresh_cluster(fresh_cluster: Any) -> None:
    cluster = fresh_cluster
    commands = quick_start()
    assert [words[0] for words in commands].count("helm") == 1, "the quick start installs with helm"
    built: dict[str, str] = {}
    outputs = [run_line(cluster, words, built) for words in commands]
    helm_output = outputs[[words[0] for words in commands].index("helm")]
    assert f"kubectl -n {NAMESPACE} port-forward svc/kubemcp 8811:8811" in helm_output  # NOTES.txt
    assert crds_present(cluster) == sorted(CRDS)

    # No manual step: the example servers are selected by the chart's gateway and their tools served.
    wait_for(lambda: ready_servers(cluster) >= {"dice", "notes"}, 300, "the example MCPServers to be Ready")
    gateway = wait_for(lambda: get(cluster, NAMESPACE, "mcpgateway", "kubemcp"), 60, "the default MCPGateway")
    assert gateway["spec"]["serviceType"] == "NodePort"
    wait_for(
        lambda: (
            set((get(cluster, NAMESPACE, "mcpgateway", "kubemcp") or {}).get("status", {}).get("servers", []))
            >= {"dice", "notes"}
        ),
        120,
        "the gateway to serve both example servers",
    )
    service = get(cluster, NAMESPACE, "service", "kubemcp")
    assert service["spec"]["ports"][0]["nodePort"] == 30811

    with port_forward(cluster, NAMESPACE, "svc/kubemcp", 8811) as url:
        token = gateway_token(cluster, NAMESPACE)

        async def use_it() -> tuple[set[str], Any, Any]:
            async with client(url, token) as connected:
                names = {tool.name for tool in (await connected.list_tools()).tools}
                rolled = tool_value(await connected.call_tool("roll", {"sides": 6, "count": 2}))
                added = tool_value(await connected.call_tool("add_note", {"title": "from the README"}))
                return names, rolled, added

        names, rolled, added = wait_for(lambda: _attempt(anyio.run, use_it), 180, "the example tools served")
        assert {"roll", "roll_notation", "add_note", "search_notes"} <= names
        assert len(rolled["rolls"]) == 2
        assert added["title"] == "from the README"

        # The README's own client lines (the Inspector installed by `make test`), against the forwarded port.
        token_line = commands_after(REPO / "README.md", "TOKEN=$(kubectl")
        inspector = "npx @modelcontextprotocol/inspector --cli"
        inspector_line = commands_after(REPO / "README.md", inspector, after="TOKEN=$(kubectl")
        script = f"{token_line}\n{inspector_line.replace('http://127.0.0.1:8811/mcp', url)}\n"
        env = {**os.environ, **cluster.env(), "PATH": f"{cluster.kubectl_path.parent}:{os.environ['PATH']}"}
        result = subprocess.run(
            ["bash", "-ec", script], cwd=REPO / "tests" / "node", env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert "roll_notation" in result.stdout


def _attempt(run: Any, work: Any) -> Any:
    try:
        return run(work)
    except Exception:  # not served yet: the operator may still be rolling the gateway out
        return None


def commands_after(readme: Path, prefix: str, after: str = "") -> str:
    """The README line that starts with `prefix`, as written (the first one below the line starting
    with `after`, when given)."""
    lines = [line.strip() for line in readme.read_text().splitlines()]
    if after:
        starts = [n for n, line in enumerate(lines) if line.startswith(after)]
        assert starts, f"README.md has no line starting with {after!r}"
        lines = lines[starts[0] + 1 :]
    for line in lines:
        if line.startswith(prefix):
            return line
    raise AssertionError(f"README.md has no line starting with {prefix!r}" + (f" below {after!r}" if after else ""))


def test_quick_start_is_read_from_the_readme() -> None:
    """The parser sees every line of the block (no silent drop of a line it could not read)."""
    commands = quick_start()
    programs = [words[0] for words in commands]
    assert programs[0] == "kind"
    assert "helm" in programs
    assert programs.count("kubectl") >= 2
    assert all(re.fullmatch(r"[a-z]+", program) for program in programs)
