"""Catalog files: Docker's format loads unchanged; every problem names file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubemcp.errors import FileFormatError, FileFormatErrors
from kubemcp.files.catalog import load_catalogs

DOCKER_STYLE = """\
version: 2
name: docker-mcp
displayName: Docker MCP Catalog
registry:
  github:
    description: GitHub's official MCP Server
    title: GitHub Official
    type: server
    dateAdded: "2025-05-01T00:00:00Z"
    image: ghcr.io/github/github-mcp-server
    ref: ""
    readme: https://example.invalid/readme.md
    icon: https://example.invalid/icon.png
    secrets:
      - name: github.personal_access_token
        env: GITHUB_PERSONAL_ACCESS_TOKEN
        example: <YOUR_TOKEN>
    env:
      - name: GITHUB_TOOLSETS
        value: "{{github.toolsets}}"
    tools:
      - name: get_me
        description: Get my user
        arguments:
          - name: verbose
            type: boolean
            desc: more detail
            optional: true
      - name: search_repositories
        description: Search repositories
        arguments:
          - name: query
            type: string
            desc: the query
    config:
      - name: github
        description: Configure the server
        type: object
        properties:
          toolsets: {type: string}
    prompts: 0
    resources: {}
    metadata:
      category: devops
  time:
    description: Time tools
    image: mcp/time
    longLived: true
    resources:
      limits: {memory: 256Mi, cpu: "1"}
  remote-thing:
    type: remote
    remote:
      url: https://example.invalid/mcp
      transport_type: streamable-http
"""


def test_docker_catalog_loads_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "docker-mcp.yaml"
    path.write_text(DOCKER_STYLE)
    catalog = load_catalogs([path])
    github = catalog.entries["github"]
    assert github.image == "ghcr.io/github/github-mcp-server"
    assert github.secrets[0].env == "GITHUB_PERSONAL_ACCESS_TOKEN"
    assert github.tools is not None
    schema = github.tools[1].schema_for_listing()
    assert schema == {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "the query"}},
        "required": ["query"],
    }
    assert "required" not in github.tools[0].schema_for_listing()
    assert catalog.entries["time"].long_lived is True
    limits = catalog.entries["time"].resources
    assert limits is not None
    assert limits.limits is not None
    assert limits.limits.memory == "256Mi"
    assert catalog.sources["time"].line == DOCKER_STYLE.splitlines().index("  time:") + 1
    assert catalog.entries["remote-thing"].remote is not None


def test_later_catalogs_win_entry_by_entry(tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    second = tmp_path / "b.yaml"
    first.write_text("version: 2\nregistry:\n  one: {image: a/one}\n  two: {image: a/two}\n")
    second.write_text("version: 2\nregistry:\n  two: {image: b/two}\n")
    catalog = load_catalogs([first, second])
    assert catalog.entries["one"].image == "a/one"
    assert catalog.entries["two"].image == "b/two"
    assert catalog.sources["two"].path == str(second)


BAD_CATALOGS = [
    ("version: 2\nregistry:\n  ok: {image: x}\n  bad:\n    description: no way to run it\n", 4, "registry.bad",
     "needs 'image'"),
    ("version: 2\nregistry:\n  s:\n    image: x\n    secrets:\n      - name: a\n        env: 1BAD\n", 7,
     "registry.s.secrets[0].env", "not a valid environment"),
    ("version: 2\nregistry:\n  s:\n    process:\n      command: []\n", 5, "registry.s.process.command",
     "at least 1"),
    ("version: 2\nregistry: [a, b]\n", 2, "registry", "valid dictionary"),
    ("version: 2\nregistry:\n  s:\n    image: x\n    longLived: maybe\n", 5, "registry.s.longLived", "boolean"),
    ("version: 2\nregistry:\n  s: {image: x\n", 4, None, "invalid YAML"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "field", "words"), BAD_CATALOGS)
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str | None, words: str) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    with pytest.raises(FileFormatError) as caught:
        load_catalogs([path])
    error = caught.value
    assert error.path == str(path)
    assert error.line == line
    assert error.field == field
    assert words in str(error)
    assert str(error).startswith(f"{path}:{line}:")


def test_all_problems_of_all_files_are_reported(tmp_path: Path) -> None:
    one = tmp_path / "one.yaml"
    two = tmp_path / "two.yaml"
    one.write_text("version: 2\nregistry:\n  a: {}\n  b: {}\n")
    two.write_text("registry: [\n")
    with pytest.raises(FileFormatErrors) as caught:
        load_catalogs([one, two])
    text = str(caught.value)
    assert f"{one}:3: field 'registry.a'" in text
    assert f"{one}:4: field 'registry.b'" in text
    assert f"{two}:" in text


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="cannot read file"):
        load_catalogs([tmp_path / "absent.yaml"])
