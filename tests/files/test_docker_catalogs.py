"""Docker's catalog formats load unchanged (tests/fixtures/docker), each field with Docker's meaning;
what kubemcp cannot honour is refused for that server alone, naming the field."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from kubemcp.errors import ServerUnavailableError
from kubemcp.files.catalog import load_catalogs
from kubemcp.files.registry import load_registry
from kubemcp.files.userconfig import load_user_config
from kubemcp.gateway.known_offerings import from_catalog
from kubemcp.gateway.served import server_config
from kubemcp.model.spec import build_spec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "docker"


def test_version_3_catalog_loads_every_field() -> None:
    catalog = load_catalogs([FIXTURES / "catalog-v3.yaml"])
    assert not catalog.refused
    assert set(catalog.entries) == {"files", "github-official", "docs", "legacy-events", "text-tools", "scratch"}
    files = catalog.entries["files"]
    assert files.volumes == ["{{files.paths|volume|into}}", "{{files.logs|mount_as:/logs:ro}}"]
    assert files.user == "{{files.uid|or:1000}}:1000"
    assert files.disable_network is True
    assert files.prefix == "fs"
    github = catalog.entries["github-official"]
    assert catalog.catalog_names["github-official"] == "GitHub.Official"
    assert github.allow_hosts == ["api.github.com:443", "github.com:443"]
    assert github.extra_hosts == ["github.internal:127.0.0.2"]
    assert github.oauth is not None
    assert github.oauth.scopes == ["repo", "read:org"]
    assert github.tools is not None
    assert github.tools[1].container is None
    assert github.config[0].model_extra == {"anyOf": [{"required": ["toolsets"]}, {"required": ["host"]}]}
    docs = catalog.entries["docs"]
    assert docs.type == "remote"
    assert docs.remote is not None
    assert docs.remote.transport_type == "streamable-http"
    assert docs.remote.headers == {"Authorization": "Bearer $DOCS_TOKEN"}
    legacy = catalog.entries["legacy-events"]
    assert legacy.type == "remote"
    assert legacy.remote is not None
    assert (legacy.remote.url, legacy.remote.transport_type) == ("https://events.example.invalid/sse", "sse")
    poci = catalog.entries["text-tools"]
    assert poci.type == "poci"
    assert poci.tools is not None
    assert poci.tools[0].schema_for_listing() == {
        "type": "object",
        "properties": {"text": {"type": "string", "description": "What to shout"}},
        "required": ["text"],
    }
    assert catalog.entries["scratch"].mounts[0].empty_dir is not None


def test_version_2_catalog_with_string_version_and_transport_spellings() -> None:
    catalog = load_catalogs([FIXTURES / "catalog-v2.yaml"])
    assert catalog.resolve("sqlite.Tools") == "sqlite-tools"
    remote = catalog.entries["transports"].remote
    assert remote is not None
    assert remote.transport_type == "streamable-http"


def test_entries_kubemcp_cannot_honour_are_refused_alone_naming_the_field() -> None:
    path = FIXTURES / "refused.yaml"
    catalog = load_catalogs([path])
    assert set(catalog.entries) == {"fine"}
    lines = path.read_text().splitlines()
    reasons = {name: " ".join(refused.problems) for name, refused in catalog.refused.items()}
    assert "field 'registry.piped.command[0]'" in reasons["piped"]
    assert "unknown template function 'sparkle'" in reasons["piped"]
    assert f"{path}:{lines.index('  piped:') + 3}:" in reasons["piped"]
    assert "field 'registry.oauth-flow.oauth.providers[0]'" in reasons["oauth-flow"]
    assert "OAuth flow" in reasons["oauth-flow"]
    assert "unknown transport 'websocket'" in reasons["odd-transport"]
    assert "field 'registry.Bad Name!'" in reasons["Bad Name!"]
    assert "field 'registry.bad-schema.config[0]'" in reasons["bad-schema"]
    assert "not a valid JSON schema" in reasons["bad-schema"]


def test_templates_pipes_and_optional_values_as_docker_reads_them(tmp_path: Path) -> None:
    catalog = load_catalogs([FIXTURES / "catalog-v3.yaml"])
    config = load_user_config(_write(tmp_path / "config.yaml", "files:\n  paths: [/srv/a, /srv/b]\n"))
    registry = load_registry(FIXTURES / "registry.yaml")
    files = build_spec(
        "files",
        catalog.entries["files"],
        catalog.sources["files"],
        server_config(catalog, "files", config, registry),
        {},
    )
    assert files.expand_list(files.entry.command) == ["/srv/a", "/srv/b"]
    assert files.container_volumes() == ["/srv/a:/srv/a", "/srv/b:/srv/b"]  # the unset logs mount is left out
    assert files.container_user() == "1000:1000"
    github = build_spec(
        "github-official",
        catalog.entries["github-official"],
        catalog.sources["github-official"],
        {},
        {"github.personal_access_token": "ghp_x"},
        catalog_name="GitHub.Official",
    )
    env = github.environment()
    assert "GITHUB_HOST" not in env  # an unset optional value drops the variable, as in Docker
    assert env["GITHUB_TOOLSETS"] == "repos"
    assert env["GITHUB_AUTH"] == "Bearer ghp_x"
    assert env["READ_ONLY"] == "true"
    assert github.container_command() == ["--toolsets", "repos", "--token-length=ghp_x"]
    assert files.expand("{{python}}") == sys.executable


def test_registry_items_may_be_empty_and_carry_config(tmp_path: Path) -> None:
    registry = load_registry(FIXTURES / "registry.yaml")
    assert registry.enabled == ["files", "GitHub.Official", "text-tools", "scratch"]
    catalog = load_catalogs([FIXTURES / "catalog-v3.yaml"])
    empty = load_user_config(_write(tmp_path / "c.yaml", "{}\n"))
    assert server_config(catalog, "scratch", empty, registry) == {"unused": True}
    wins = load_user_config(_write(tmp_path / "d.yaml", "scratch:\n  used: 1\n"))
    assert server_config(catalog, "scratch", wins, registry) == {"used": 1}


def test_config_is_validated_against_its_whole_json_schema() -> None:
    catalog = load_catalogs([FIXTURES / "catalog-v3.yaml"])
    entry, source = catalog.entries["files"], catalog.sources["files"]
    build_spec("files", entry, source, {"paths": ["/x"], "uid": 5}, {}).check_config()
    with pytest.raises(ServerUnavailableError, match="'paths' is a required property"):
        build_spec("files", entry, source, {}, {}).check_config()
    with pytest.raises(ServerUnavailableError, match=r"uid: 0 is less than the minimum of 1"):
        build_spec("files", entry, source, {"paths": [], "uid": 0}, {}).check_config()
    github = catalog.entries["github-official"]
    with pytest.raises(ServerUnavailableError, match="is not valid under any of the given schemas"):
        build_spec("github-official", github, source, {}, {}, catalog_name="GitHub.Official").check_config()
    with pytest.raises(ServerUnavailableError, match="is not one of"):
        build_spec("github-official", github, source, {"toolsets": "all"}, {}).check_config()


def test_tools_given_by_name_only_are_discovered_not_listed_empty() -> None:
    catalog = load_catalogs([FIXTURES / "catalog-v3.yaml"])
    files = build_spec("files", catalog.entries["files"], catalog.sources["files"], {}, {})
    assert from_catalog(files) is None
    github = build_spec("github-official", catalog.entries["github-official"], catalog.sources["files"], {}, {})
    declared = from_catalog(github)
    assert declared is not None
    assert [tool.name for tool in declared.tools] == ["whoami", "env", "interfaces", "hosts"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
