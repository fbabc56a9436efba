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


# -- values of any characters round-trip exactly (issue 11) ------------------------------------

TRICKY = {
    "cr": "before\rafter",
    "crlf": "line one\r\nline two",
    "line.separator": "one\u2028two\u2029three",
    "other.breaks": "a\x0bb\x0cc\x1cd\x1de\x1ef\x85g",
    "multi.line": "-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----\n",
    "literal.escape": "a\\nb is a backslash and an n",
    "quoted": '"double"',
    "single": "'single'",
    "inner.quotes": 'it\'s "fine"',
    "spaces": "  padded both sides  ",
    "tab": "\tstarts with a tab",
    "unicode": "é ✓ 🔑 \u00a0nbsp",
    "hash": "# not a comment",
    "equals": "a=b=c",
    "backslash.end": "ends with \\",
    "empty": "",
}


def test_any_value_round_trips_exactly(tmp_path: Path) -> None:
    store = tmp_path / "secrets.env"
    write_secrets(store, TRICKY)
    assert read_secrets(store) == TRICKY


@pytest.mark.parametrize("separator", ["\r", "\u2028", "\x85", "\x0b", "\u2029", "\x1c"])
def test_a_line_break_in_a_value_cannot_overwrite_another_secret(tmp_path: Path, separator: str) -> None:
    # `str.splitlines()` split lines on these: the rest of the value became an entry of its own.
    store = tmp_path / "secrets.env"
    hijack = f"x{separator}a.real=HIJACK2"
    write_secrets(store, {"a.real": "REALVALUE", "a.evil": hijack})
    assert read_secrets(store) == {"a.real": "REALVALUE", "a.evil": hijack}
    assert store.read_text(encoding="utf-8").count("\n") == 2  # one line per secret, still readable


def test_plain_values_stay_plain_lines(tmp_path: Path) -> None:
    store = tmp_path / "secrets.env"
    write_secrets(store, {"github.token": "ghp_abc=def", "path": "C:\\dir"})
    assert store.read_text() == "github.token=ghp_abc=def\npath=C:\\dir\n"
    write_secrets(store, {"multi": "a\nb", "padded": " x "})
    assert store.read_text() == 'multi="a\\nb"\npadded=" x "\n'


def test_hand_written_crlf_lines_are_read(tmp_path: Path) -> None:
    store = tmp_path / "s.env"
    store.write_bytes(b"A=1\r\nB='two words'\r\n")
    assert read_secrets(store) == {"A": "1", "B": "two words"}


@pytest.mark.parametrize(
    ("value", "problem"),
    [("a\x00b", "NUL"), ("bad \udcff byte", "not valid UTF-8")],
    ids=["nul", "invalid-utf8"],
)
def test_values_an_environment_cannot_hold_are_refused(tmp_path: Path, value: str, problem: str) -> None:
    with pytest.raises(SecretStoreError, match=problem) as caught:
        write_secrets(tmp_path / "s.env", {"x.token": value})
    assert "x.token" in str(caught.value)
    with pytest.raises(SecretStoreError, match=problem):
        parse_assignment(f"x.token={value}")
    assert not (tmp_path / "s.env").exists()


def test_a_nul_escape_in_the_file_is_refused_without_the_value(tmp_path: Path) -> None:
    store = tmp_path / "s.env"
    store.write_text('OK=1\nBAD="hunter2\\u0000"\n')
    with pytest.raises(FileFormatError) as caught:
        read_secrets(store)
    assert (caught.value.line, caught.value.field) == (2, "BAD")
    assert "hunter2" not in str(caught.value)


def test_values_read_are_masked_from_then_on(tmp_path: Path) -> None:
    from kubemcp.masking import known_secrets

    value = "late-s3cret-" + "5e0a"
    store = tmp_path / "s.env"
    store.write_text(f"late={value}\n")
    assert value not in known_secrets.values
    read_secrets(store)
    assert known_secrets.mask(f"the value {value}") == "the value ***"
