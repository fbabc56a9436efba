"""Named bearer tokens: which principal a token is, several tokens per name, reloads that keep working tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubemcp.errors import KubemcpError
from kubemcp.files.tokens import ensure_default_token, read_tokens_file
from kubemcp.gateway.auth_tokens import StaticTokens
from support import write_tokens

A1, A2, B = "alice-token-0000000001", "alice-token-0000000002", "bob-token-000000000001"


def test_a_token_is_the_principal_it_is_named_after(tmp_path: Path) -> None:
    folder = tmp_path / "mounted"
    folder.mkdir()
    (folder / "alice").write_text(A2 + "\n")
    (folder / "..data").mkdir()  # the kubelet's bookkeeping is not a token
    tokens = StaticTokens(write_tokens(tmp_path / "tokens.env", alice=A1, bob=B), folder)
    tokens.load()
    assert tokens.names() == ["alice", "bob"]
    assert [tokens.principal_name(token) for token in (A1, A2, B)] == ["alice", "alice", "bob"]
    assert tokens.principal_name(A1[:-1]) is None
    assert tokens.principal_name("") is None


def test_reload_applies_changes_and_keeps_the_tokens_after_a_bad_edit(tmp_path: Path) -> None:
    path = write_tokens(tmp_path / "tokens.env", alice=A1)
    tokens = StaticTokens(path, None)
    tokens.load()
    assert tokens.reload() is False  # unchanged
    write_tokens(path, alice=A2)
    assert tokens.reload() is True
    assert tokens.principal_name(A1) is None
    assert tokens.principal_name(A2) == "alice"
    path.write_text("alice=short\n")
    assert tokens.reload() is False
    assert tokens.principal_name(A2) == "alice"


def test_token_files_refuse_what_is_not_a_bearer_token(tmp_path: Path) -> None:
    for text in ("alice=has spaces in it but long\n", "alice=tooshort\n", "bad name=" + A1 + "\n"):
        path = tmp_path / "tokens.env"
        path.write_text(text)
        with pytest.raises(KubemcpError) as caught:
            read_tokens_file(path)
        assert "tooshort" not in str(caught.value)
        assert A1 not in str(caught.value)


def test_the_default_token_is_created_once(tmp_path: Path) -> None:
    path = tmp_path / "home" / "tokens.env"
    assert ensure_default_token(path) is True
    first = read_tokens_file(path)
    assert list(first) == ["default"]
    assert ensure_default_token(path) is False
    assert read_tokens_file(path) == first
