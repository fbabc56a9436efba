"""registry.yaml and config.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubemcp.errors import FileFormatError
from kubemcp.files.registry import RegistryFile, RegistryItem, load_registry, save_registry
from kubemcp.files.userconfig import load_user_config


def test_registry_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    save_registry(path, RegistryFile(registry={"b": RegistryItem(), "a": RegistryItem(ref="x")}))
    assert path.read_text() == "registry:\n  a:\n    ref: x\n  b:\n    ref: ''\n"
    assert load_registry(path).enabled == ["a", "b"]


def test_registry_errors_name_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text("registry:\n  a:\n    ref: ''\n  b:\n    reff: ''\n")
    with pytest.raises(FileFormatError) as caught:
        load_registry(path)
    assert caught.value.line == 5
    assert caught.value.field == "registry.b.reff"


def test_empty_files_are_empty(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("")
    (tmp_path / "c.yaml").write_text("# nothing yet\n")
    assert load_registry(tmp_path / "r.yaml").enabled == []
    assert load_user_config(tmp_path / "c.yaml").for_server("x") == {}


def test_config_must_map_servers_to_mappings(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("notes:\n  db_path: /tmp/x\ntime: UTC\n")
    with pytest.raises(FileFormatError) as caught:
        load_user_config(path)
    assert caught.value.line == 3
    assert caught.value.field == "time"
