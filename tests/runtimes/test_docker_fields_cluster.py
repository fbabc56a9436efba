"""Docker's fields on the real test cluster: the fixture catalog's `GitHub.Official` entry (secrets and
`$VAR`, optional and defaulted templates, extraHosts, a capitalised dotted name) and an entry with a
numeric `user`, Docker `volumes` and kubemcp `mounts`, each served from a Pod through `pods/attach`."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import REPO, tool_value

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

FIXTURES = REPO / "tests" / "fixtures" / "docker"
TOKEN = "ghp_" + "cluster4a9d"


@pytest.fixture(scope="session")
def peer_image(cluster: Any) -> str:
    from cluster import images

    return images.build_and_load(REPO / "tests" / "peers" / "docker_peer", "Dockerfile", "kubemcp/docker-peer:test")


def _objects(cluster: Any, namespace: str) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "gh-secrets", "namespace": namespace},
        "data": {"github.personal_access_token": base64.b64encode(TOKEN.encode()).decode()},
    }
    settings = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app-settings", "namespace": namespace},
        "data": {"mode": "fast"},
    }
    for manifest in (secret, settings):
        cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


async def test_docker_fields_serve_from_pods(
    cluster: Any, namespace: str, peer_image: str, gateway_process: Any, tmp_path: Path
) -> None:
    _objects(cluster, namespace)
    fixture = yaml.safe_load((FIXTURES / "catalog-v3.yaml").read_text())
    github = fixture["registry"]["GitHub.Official"]
    github["kubernetes"] = {"imagePullPolicy": "Never", "secretName": "gh-secrets"}
    boxed = {
        "image": "kubemcp/docker-peer:test",
        "user": "2000:3000",
        "disableNetwork": True,
        "volumes": ["/scratch"],
        "mounts": [{"name": "settings", "mountPath": "/settings", "configMap": {"name": "app-settings"}}],
        "tools": [{"name": name, "description": name} for name in ("whoami", "ls", "write")],
        "kubernetes": {"imagePullPolicy": "Never", "readOnlyRootFilesystem": True},
    }
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({"version": 3, "registry": {"GitHub.Official": github, "boxed": boxed}}))
    config = tmp_path / "config.yaml"
    config.write_text("GitHub_Official:\n  toolsets: issues\n")
    gateway = gateway_process(
        "--catalog", str(catalog), "--config", str(config), "--runtime", "kubernetes",
        "--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace,
        # The server's environment is read back, secret included, to prove what reached it: scanning would
        # (rightly) block that result. Secret scanning has its own tests.
        "--secret-scan", "off",
    )  # fmt: skip
    async with gateway.client() as client:
        env = tool_value(await client.call_tool("env", {}))
        assert env["GITHUB_PERSONAL_ACCESS_TOKEN"] == TOKEN  # a secretKeyRef: the gateway never read it
        assert env["GITHUB_AUTH"] == f"Bearer {TOKEN}"  # `$VAR` became `$(VAR)`, expanded by the kubelet
        assert env["GITHUB_TOOLSETS"] == "issues"
        assert "GITHUB_HOST" not in env
        hosts = json.loads(tool_value(await client.call_tool("hosts", {})))
        assert "github.internal" in hosts
        assert "127.0.0.2" in hosts
        who = tool_value(await client.call_tool("github-official__whoami", {}))
        assert who["argv"] == ["--toolsets", "issues", f"--token-length={TOKEN}"]
        boxed_who = tool_value(await client.call_tool("boxed__whoami", {}))
        assert (boxed_who["uid"], boxed_who["gid"]) == (2000, 3000)
        assert "mode" in tool_value(await client.call_tool("ls", {"path": "/settings"}))
        written = await client.call_tool("write", {"path": "/scratch/x", "text": "ok"})
        assert not written.is_error  # the anonymous volume became a writable emptyDir


def test_the_api_server_validates_mounts(cluster: Any, namespace: str) -> None:
    def catalog(mount: dict[str, Any]) -> str:
        entry = {"image": "x/y", "mounts": [{"name": "m", "mountPath": "/data", **mount}]}
        return json.dumps(
            {
                "apiVersion": "kubemcp.dev/v1alpha1",
                "kind": "MCPCatalog",
                "metadata": {"name": "mounts", "namespace": namespace},
                "spec": {"entries": {"a": entry}},
            }
        )

    cluster.kubectl("apply", "-f", "-", input=catalog({"persistentVolumeClaim": {"claimName": "ws"}}))
    for bad, words in (
        ({}, "exactly one of"),
        ({"emptyDir": {}, "configMap": {"name": "c"}}, "exactly one of"),
        ({"hostPath": {"path": "/etc"}, "emptyDir": {}}, "hostPath"),
    ):
        with pytest.raises(Exception, match=words):
            cluster.kubectl("apply", "-f", "-", input=catalog(bad))
