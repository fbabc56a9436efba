"""Remote MCPServers: no Pod runs; discovery connects, gateways are allowed their Secret by name."""

from __future__ import annotations

import base64

import pytest
from controller.fakekube import FakeKube
from controller.objects import server
from kubemcp.controller import mcpgateway_objects as objects
from kubemcp.controller.mcpgateway import remote_secrets
from kubemcp.controller.mcpgateway_files import served_server
from kubemcp.controller.resolve import ResolveError, resolve
from kubemcp.controller.server_discovery import discover
from kubemcp.controller.warm_pool_pods import reconcile_pool
from kubemcp.kube.client import path_for
from support import RemoteServer

pytestmark = pytest.mark.anyio


def remote_entry(url: str, **extra: object) -> dict[str, object]:
    return {"type": "remote", "remote": {"url": url, "headers": {"Authorization": "Bearer ${TOKEN}"}}, **extra}


def hosted(name: str, entry: dict[str, object], **spec: object) -> dict[str, object]:
    """An MCPServer with its entry inline."""
    return server(name, catalogRef=None, inline=entry, **spec)


HOSTED = remote_entry("https://hosted.example/mcp", secrets=[{"name": "hosted.token", "env": "TOKEN"}])


def test_a_remote_entry_resolves_without_an_image() -> None:
    resolved = resolve(hosted("hosted", HOSTED, secretName="hosted-secrets"), None)
    assert resolved.image == ""
    assert resolved.what == "remote https://hosted.example/mcp"
    assert resolved.entry.kubernetes is not None
    assert resolved.entry.kubernetes.secret_name == "hosted-secrets"


def test_a_remote_entry_needs_its_url() -> None:
    with pytest.raises(ResolveError, match="remote"):
        resolve(hosted("hosted", {"type": "remote"}), None)


async def test_a_remote_server_has_no_warm_pool_pods() -> None:
    kube = FakeKube()
    resolved = resolve(hosted("hosted", HOSTED, warmPool=2), None)
    plan = await reconcile_pool(kube, resolved.spec, "hosted", "team", {"uid": "u"})
    assert plan.create == 0
    assert (await kube.list(path_for("v1", "pods", "team")))["items"] == []


def test_gateways_may_read_and_refresh_the_secrets_of_their_remote_servers() -> None:
    served = served_server(resolve(hosted("hosted", HOSTED, secretName="hosted-secrets"), None), None)
    secrets = remote_secrets([served])
    assert secrets == {"team": ["hosted-secrets"]}
    role = objects.role(objects.Names("gw", "team"), None, secrets=secrets["team"])
    assert {
        "apiGroups": [""],
        "resources": ["secrets"],
        "resourceNames": ["hosted-secrets"],
        "verbs": ["get", "patch"],
    } in (role["rules"])
    assert not any("secrets" in rule["resources"] for rule in objects.role_rules("cm"))


async def test_discovery_connects_to_a_remote_server_with_its_secret() -> None:
    kube = FakeKube()
    await kube.create(
        path_for("v1", "secrets", "team"),
        {
            "metadata": {"name": "kubemcp-secrets", "namespace": "team"},
            "data": {"hosted.token": base64.b64encode(b"s3cret").decode()},
        },
    )
    with RemoteServer("streamable-http", "--require-header", "Authorization=Bearer s3cret") as remote:
        entry = remote_entry(remote.url, secrets=[{"name": "hosted.token", "env": "TOKEN"}])
        resolved = resolve(hosted("hosted", entry), None)
        found = await discover(kube, resolved.spec, {"uid": "u"}, limit=60)
    assert "summarize" in {tool["name"] for tool in found["tools"]}
    assert found["capabilities"]["completions"] == {}
    assert (await kube.list(path_for("v1", "pods", "team")))["items"] == []  # no Pod ran
