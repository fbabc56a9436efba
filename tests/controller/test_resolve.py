"""Resolving MCPServers, and the ConfigMap files a gateway loads: the gateway computes the same digest."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from controller.fakekube import FakeKube
from controller.objects import DICE, NOTES, catalog, server
from kubemcp.controller.mcpgateway_files import ServedServer, render_files, select_unique, served_server
from kubemcp.controller.resolve import ResolveError, resolve
from kubemcp.crd.models import API_VERSION
from kubemcp.gateway.configmap_files import ConfigMapFiles
from kubemcp.gateway.known_offerings import from_recorded
from kubemcp.gateway.served import load_served
from kubemcp.gateway.settings import GatewaySettings
from kubemcp.kube.client import path_for
from kubemcp.kube.pods import server_pod


def test_catalog_entry_with_overrides_and_kubernetes_form() -> None:
    obj = server(
        "dice",
        warmPool=2,
        imagePullPolicy="Never",
        resources={"limits": {"memory": "64Mi"}},
        idleTimeoutSeconds=30,
        maxInstances=4,
    )
    resolved = resolve(obj, catalog())
    assert (resolved.name, resolved.namespace, resolved.catalog, resolved.entry_name) == (
        "dice",
        "team",
        "examples",
        "dice",
    )
    assert resolved.image == "kubemcp/example-dice:latest"
    entry = resolved.entry
    assert entry.resources is not None
    assert entry.resources.limits is not None
    assert entry.resources.limits.memory == "64Mi"
    form = entry.kubernetes
    assert form is not None
    assert (form.namespace, form.secret_name, form.warm_pool, form.image_pull_policy) == (
        "team",
        "kubemcp-secrets",
        2,
        "Never",
    )
    assert (form.lifecycle, form.per_call_kind, form.idle_timeout_seconds) == ("perCall", "Pod", 30)
    assert resolved.spec.lifecycle == "perCall"
    assert resolved.spec.max_instances == 4
    assert len(resolved.digest) == 16


def test_digest_follows_image_and_config_not_pool_or_lifecycle_form() -> None:
    base = resolve(server("notes", config={"db_path": "/tmp/a"}), catalog()).digest
    assert resolve(server("notes", config={"db_path": "/tmp/a"}, warmPool=3), catalog()).digest == base
    assert resolve(server("notes", config={"db_path": "/tmp/a"}, maxInstances=2), catalog()).digest == base
    assert resolve(server("notes", config={"db_path": "/tmp/b"}), catalog()).digest != base
    other_image = catalog(entries={"notes": {**NOTES, "image": "kubemcp/example-notes:2"}})
    assert resolve(server("notes", config={"db_path": "/tmp/a"}), other_image).digest != base


def test_lifecycle_defaults_to_the_entry() -> None:
    long_lived = catalog(entries={"dice": {**DICE, "longLived": True}})
    assert resolve(server("dice"), long_lived).spec.lifecycle == "longLived"
    assert resolve(server("dice", lifecycle="perSession"), long_lived).spec.lifecycle == "perSession"
    resolved = resolve(server("dice", lifecycle="longLived"), catalog())
    assert resolved.entry.long_lived is True
    assert resolved.spec.lifecycle == "longLived"


def test_inline_entry_and_explicit_catalog_entry() -> None:
    obj = server("roller")
    obj["spec"] = {"inline": DICE}
    resolved = resolve(obj, None)
    assert (resolved.catalog, resolved.entry_name, resolved.image) == (None, None, DICE["image"])
    renamed = server("roller", catalogRef={"name": "examples", "entry": "dice"})
    assert resolve(renamed, catalog()).entry_name == "dice"


@pytest.mark.parametrize(
    ("obj", "found", "reason"),
    [
        (server("dice"), None, "CatalogNotFound"),
        (server("ghost"), catalog(), "EntryNotFound"),
        (server("notes"), catalog(), "InvalidConfig"),  # db_path is required
        (server("dice", inline=DICE), catalog(), "InvalidSpec"),  # both catalogRef and inline
        (server("dice", warmPool=99), catalog(), "InvalidSpec"),
        (server("Bad.Name"), catalog(), "InvalidName"),
        (server("dice"), catalog(entries={"dice": {"image": ""}}), "InvalidCatalog"),
    ],
)
def test_problems_become_reasons(obj: dict[str, object], found: dict[str, object] | None, reason: str) -> None:
    with pytest.raises(ResolveError) as problem:
        resolve(obj, found)
    assert problem.value.reason == reason
    assert problem.value.message


def test_config_that_breaks_the_entry_schema_is_invalid_config() -> None:
    schema = {"name": "dice", "type": "object", "properties": {"sides": {"type": "integer"}}, "required": ["sides"]}
    broken = catalog(entries={"dice": {**DICE, "command": ["run", "{{dice.sides}}"], "config": [schema]}})
    with pytest.raises(ResolveError) as problem:
        resolve(server("dice"), broken)
    assert problem.value.reason == "InvalidConfig"
    assert "'sides' is a required property" in problem.value.message
    resolved = resolve(server("dice", config={"sides": 6}), broken)
    assert server_pod(resolved.spec, "call")["spec"]["containers"][0]["args"] == ["run", "6"]


def test_pods_take_secrets_by_reference_from_the_named_secret() -> None:
    resolved = resolve(server("notes", config={"db_path": "/tmp/n.db"}, secretName="team-secrets"), catalog())
    pod = server_pod(resolved.spec, "pool")
    env = pod["spec"]["containers"][0]["env"]
    assert {"name": "NOTES_DB", "value": "/tmp/n.db"} in env
    assert {"name": "NOTES_TOKEN", "valueFrom": {"secretKeyRef": {"name": "team-secrets", "key": "notes.token"}}} in env
    assert pod["metadata"]["labels"]["kubemcp.dev/digest"] == resolved.digest


# -- the ConfigMap a gateway serves ------------------------------------------------------------


@pytest.mark.anyio
async def test_the_gateway_loads_the_configmap_with_the_same_digests(tmp_path: Path) -> None:
    dice = resolve(server("dice", warmPool=1, lifecycle="longLived"), catalog())
    notes = resolve(server("notes", config={"db_path": "/tmp/n.db", "extra": {"deep": [1, 2]}}), catalog())
    discovery = {
        "digest": dice.digest,
        "discoveredAt": "2026-01-01T00:00:00Z",
        "tools": [{"name": "roll", "inputSchema": {"type": "object"}}, {"name": "roll_notation", "inputSchema": {}}],
        "prompts": [{"name": "initiative", "arguments": [{"name": "character", "required": True}]}],
        "resources": [{"uri": "dice://faces", "name": "faces"}],
        "resourceTemplates": [],
    }
    files = render_files("mcp", [served_server(notes, None), served_server(dice, {"discovery": discovery})])
    assert yaml.safe_load(files["discovery.yaml"]) == {
        "servers": {
            "dice": {"namespace": "team", "name": "dice", "digest": dice.digest, "discoveredAt": "2026-01-01T00:00:00Z"}
        }
    }
    assert yaml.safe_load(files["registry.yaml"]) == {"registry": {"dice": {"ref": ""}, "notes": {"ref": ""}}}
    assert yaml.safe_load(files["config.yaml"]) == {"notes": {"db_path": "/tmp/n.db", "extra": {"deep": [1, 2]}}}
    catalog_yaml = yaml.safe_load(files["catalog.yaml"])
    assert catalog_yaml["version"] == 2
    assert catalog_yaml["registry"]["dice"]["longLived"] is True
    assert catalog_yaml["registry"]["dice"]["kubernetes"]["warmPool"] == 1
    assert "discovered" not in catalog_yaml["registry"]["notes"]
    assert "discovered" not in catalog_yaml["registry"]["dice"]  # the gateway reads it from the status

    kube = FakeKube()  # the gateway's side: the ConfigMap, and the MCPServer status it names
    kube.put(path_for("v1", "configmaps", "team", "mcp"), {"metadata": {"name": "mcp"}, "data": files})
    kube.put(path_for(API_VERSION, "mcpservers", "team", "dice"), {"status": {"discovery": discovery}})
    configmap = ConfigMapFiles(kube, "team", "mcp", tmp_path)
    assert await configmap.sync()
    _, specs = load_served(
        GatewaySettings(catalogs=[configmap.catalog], registry=configmap.registry, config=configmap.config)
    )
    assert specs["dice"].digest == dice.digest
    assert specs["notes"].digest == notes.digest
    assert specs["dice"].lifecycle == "longLived"
    recorded = from_recorded(specs["dice"])
    assert recorded is not None
    assert [tool.name for tool in recorded.tools] == ["roll", "roll_notation"]
    assert [prompt.name for prompt in recorded.prompts] == ["initiative"]
    assert from_recorded(specs["notes"]) is None


def test_stale_discovery_is_left_out() -> None:
    dice = resolve(server("dice"), catalog())
    stale = served_server(dice, {"discovery": {"digest": "0000", "tools": [{"name": "old"}]}})
    assert stale.discovered is None


def test_rendering_is_deterministic() -> None:
    dice = served_server(resolve(server("dice"), catalog()), None)
    notes = served_server(resolve(server("notes", config={"db_path": "/x"}), catalog()), None)
    assert render_files("mcp", [dice, notes]) == render_files("mcp", [notes, dice])


def test_one_server_per_name_own_namespace_first() -> None:
    entry = resolve(server("dice"), catalog()).entry
    mine = ServedServer("dice", "team", entry)
    theirs = ServedServer("dice", "other", entry)
    chosen, dropped = select_unique([theirs, mine], "team")
    assert chosen == [mine]
    assert dropped == ["other/dice (name taken by team)"]
