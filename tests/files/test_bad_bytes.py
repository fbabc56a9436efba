"""Bytes that are not text, YAML that is unsafe to load and duplicate keys: each is a one-line
`FileFormatError` naming the file (and the line where known), never another exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from bad_files import SECRETS_EDITS, YAML_EDITS
from kubemcp.errors import FileFormatError, FileFormatErrors
from kubemcp.files.catalog import load_catalogs
from kubemcp.files.registry import load_registry
from kubemcp.files.secrets import read_secrets
from kubemcp.files.userconfig import load_user_config

CATALOG = b"""\
version: 2
name: test
registry:
  dice:
    image: x/dice
    process:
      command: [python3, dice.py]
"""
REGISTRY = b"registry:\n  dice:\n    ref: ''\n"
CONFIG = b"dice:\n  sides: 6\n"
SECRET_VALUE = b"hunter2-value"
SECRETS = b"dice.token=" + SECRET_VALUE + b"\n"


def _load_catalog(path: Path) -> object:
    return load_catalogs([path])


LOADERS = {
    "catalog": (CATALOG, _load_catalog),
    "registry": (REGISTRY, load_registry),
    "config": (CONFIG, load_user_config),
}


@pytest.mark.parametrize("kind", sorted(LOADERS))
@pytest.mark.parametrize("edit", sorted(YAML_EDITS))
def test_every_bad_yaml_edit_is_a_file_format_error(tmp_path: Path, kind: str, edit: str) -> None:
    original, load = LOADERS[kind]
    path = tmp_path / f"{kind}.yaml"
    path.write_bytes(original)
    load(path)  # the original loads
    path.write_bytes(YAML_EDITS[edit](original))
    with pytest.raises((FileFormatError, FileFormatErrors)) as caught:
        load(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("edit", sorted(SECRETS_EDITS))
def test_every_bad_secrets_edit_is_an_error_without_the_values(tmp_path: Path, edit: str) -> None:
    path = tmp_path / "secrets.env"
    path.write_bytes(SECRETS)
    assert read_secrets(path) == {"dice.token": SECRET_VALUE.decode()}
    path.write_bytes(SECRETS_EDITS[edit](SECRETS))
    with pytest.raises(FileFormatError) as caught:
        read_secrets(path)
    assert str(path) in str(caught.value)
    assert SECRET_VALUE.decode() not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_byte_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_bytes(CATALOG + b"# caf\xff\n")
    with pytest.raises(FileFormatError) as caught:
        load_catalogs([path])
    assert caught.value.line == 8
    assert str(caught.value) == f"{path}:8: not UTF-8 text (a byte that is not UTF-8 at line 8, column 6)"


def test_a_control_character_is_located(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"dice:\n  sides: 6\x01\n")
    with pytest.raises(FileFormatError) as caught:
        load_user_config(path)
    assert caught.value.line == 2
    assert "control character #x0001" in str(caught.value)


def test_duplicate_server_is_refused_naming_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_bytes(CATALOG + b"  dice:\n    image: x/other\n")
    with pytest.raises(FileFormatError) as caught:
        load_catalogs([path])
    assert caught.value.line == 8
    assert caught.value.field == "registry.dice"
    assert "duplicate key 'dice' (first at line 4)" in str(caught.value)


def test_duplicate_nested_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"dice:\n  sides: 6\n  sides: 8\n")
    with pytest.raises(FileFormatError, match="duplicate key 'sides' \\(first at line 2\\)"):
        load_user_config(path)


def test_aliases_that_stay_small_still_load(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"base: &base {sides: 6}\ndice: *base\n")
    assert load_user_config(path).for_server("dice") == {"sides": 6}


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + CATALOG)
    assert list(load_catalogs([path]).entries) == ["dice"]
