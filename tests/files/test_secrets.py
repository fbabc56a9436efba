"""The secret store: 0600, names only in listings, values never in errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from kubemcp.errors import FileFormatError, SecretStoreError
from kubemcp.files.secrets import parse_assignment, read_secrets, write_secrets


def test_round_trip_with_owner_only_permissions(tmp_path: Path) -> None:
    store = tmp_path / "home" / "secrets.env"
    write_secrets(store, {"github.token": "ghp_abc=def", "other": "with spaces"})
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700
    assert read_secrets(store) == {"github.token": "ghp_abc=def", "other": "with spaces"}


def test_missing_store_is_empty(tmp_path: Path) -> None:
    assert read_secrets(tmp_path / "none.env") == {}


def test_env_file_conventions(tmp_path: Path) -> None:
    store = tmp_path / "s.env"
    store.write_text("# comment\n\nexport A=1\nB='quoted value'\nC=\"dq\"\n")
    assert read_secrets(store) == {"A": "1", "B": "quoted value", "C": "dq"}


def test_bad_line_names_line_but_not_value(tmp_path: Path) -> None:
    store = tmp_path / "s.env"
    store.write_text("GOOD=1\nthis line holds hunter2 and no equals sign\n")
    with pytest.raises(FileFormatError) as caught:
        read_secrets(store)
    assert caught.value.line == 2
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("text", ["novalue", "=x", "bad name=x"])
def test_bad_assignments(text: str) -> None:
    with pytest.raises(SecretStoreError):
        parse_assignment(text)
