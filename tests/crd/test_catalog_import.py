"""`kubemcp catalog import`: Docker-format catalogs become MCPCatalog manifests the CRD accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from crd.schemas import REPO, validate_with_crd
from kubemcp.cli import main
from kubemcp.crd.convert import import_catalog, resource_name
from kubemcp.crd.models import MCPCatalogSpec


def test_the_example_catalog_converts_without_process_forms() -> None:
    result = import_catalog(REPO / "examples" / "catalog.yaml", namespace="demo")
    manifest = result.manifest
    assert manifest["metadata"] == {"name": "kubemcp-examples", "namespace": "demo"}
    entries = manifest["spec"]["entries"]
    assert set(entries) == {"dice", "notes", "time", "everything", "memory"}
    assert result.skipped == {}
    for entry in entries.values():
        assert "process" not in entry
    assert entries["dice"]["tools"][1]["inputSchema"]["required"] == ["notation"]
    assert entries["notes"]["config"][0]["required"] == ["db_path"]
    assert entries["everything"]["longLived"] is True
    assert entries["dice"]["resources"] == {"limits": {"memory": "128Mi", "cpu": "0.5"}}
    validate_with_crd(manifest)
    spec = MCPCatalogSpec.model_validate(manifest["spec"])
    assert spec.display_name == "kubemcp examples"


def test_entries_without_an_image_are_skipped_with_the_reason(tmp_path: Path) -> None:
    catalog = tmp_path / "docker.yaml"
    catalog.write_text(
        yaml.safe_dump(
            {
                "version": 2,
                "name": "Docker MCP Catalog",
                "registry": {
                    "github": {
                        "description": "GitHub",
                        "image": "mcp/github",
                        "readme": "https://example.invalid/readme",  # presentation fields are dropped
                        "icon": "https://example.invalid/icon.png",
                        "secrets": [{"name": "github.personal_access_token", "env": "GITHUB_TOKEN"}],
                        "tools": [{"name": "search", "arguments": [{"name": "q", "desc": "query"}]}],
                        "config": {"name": "github", "properties": {"host": {"type": "string"}}},
                    },
                    "hosted": {"type": "remote", "remote": {"url": "https://example.invalid/mcp"}},
                    "local": {"process": {"command": ["echo"]}},
                },
            }
        )
    )
    result = import_catalog(catalog, name="docker")
    assert result.manifest["metadata"] == {"name": "docker"}
    assert set(result.skipped) == {"hosted", "local"}
    github = result.manifest["spec"]["entries"]["github"]
    assert "readme" not in github
    assert "icon" not in github
    assert github["secrets"] == [{"name": "github.personal_access_token", "env": "GITHUB_TOKEN"}]
    assert github["tools"][0]["arguments"][0]["name"] == "q"
    assert github["config"][0]["properties"] == {"host": {"type": "string"}}
    validate_with_crd(result.manifest)


def test_cli_prints_yaml_and_names_what_it_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = tmp_path / "c.yaml"
    catalog.write_text(
        "version: 2\nname: Mixed_Catalog\nregistry:\n  a: {image: x/a}\n  b: {process: {command: [b]}}\n"
    )
    assert main(["catalog", "import", str(catalog), "-n", "team"]) == 0
    out = capsys.readouterr()
    manifest = yaml.safe_load(out.out)
    assert manifest["kind"] == "MCPCatalog"
    assert manifest["metadata"] == {"name": "mixed-catalog", "namespace": "team"}
    assert manifest["spec"]["entries"] == {"a": {"image": "x/a"}}
    assert "skipped b:" in out.err


def test_resource_names() -> None:
    assert resource_name("Docker MCP Catalog") == "docker-mcp-catalog"
    assert resource_name("___") == "catalog"


def test_the_docker_fixture_imports_with_each_refusal_named() -> None:
    result = import_catalog(REPO / "tests" / "fixtures" / "docker" / "catalog-v3.yaml")
    entries = result.manifest["spec"]["entries"]
    assert set(entries) == {"github-official", "scratch"}
    github = entries["github-official"]
    assert github["allowHosts"] == ["api.github.com:443", "github.com:443"]
    assert github["extraHosts"] == ["github.internal:127.0.0.2"]
    assert github["secrets"] == [{"name": "github.personal_access_token", "env": "GITHUB_PERSONAL_ACCESS_TOKEN"}]
    assert github["config"][0]["anyOf"] == [{"required": ["toolsets"]}, {"required": ["host"]}]
    scratch = entries["scratch"]["mounts"]
    assert {"name": "peer-data-0", "mountPath": "/data", "readOnly": False,
            "persistentVolumeClaim": {"claimName": "peer-data"}} in scratch  # fmt: skip
    assert {"name": "anonymous-1", "mountPath": "/scratch", "readOnly": False, "emptyDir": {}} in scratch
    assert "field 'volumes[0]'" in result.skipped["files"]
    assert "no hostPath" in result.skipped["files"]
    assert "type 'poci'" in result.skipped["text-tools"]
    assert "no container image" in result.skipped["docs"]
    validate_with_crd(result.manifest)


def test_the_crd_refuses_mounts_without_exactly_one_source() -> None:
    mount = {"name": "m", "mountPath": "/data"}
    with pytest.raises(ValueError, match="exactly one of"):
        MCPCatalogSpec.model_validate({"entries": {"a": {"image": "x", "mounts": [mount]}}})
    two = {**mount, "emptyDir": {}, "configMap": {"name": "c"}}
    with pytest.raises(ValueError, match="exactly one of"):
        MCPCatalogSpec.model_validate({"entries": {"a": {"image": "x", "mounts": [two]}}})
    with pytest.raises(ValueError, match="hostPath"):
        MCPCatalogSpec.model_validate({"entries": {"a": {"image": "x", "mounts": [{**mount, "hostPath": {}}]}}})
