"""The `kubemcp` command: secrets, registry edits, catalog display, gateway start-up errors."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from kubemcp.cli import main
from kubemcp.files.secrets import read_secrets
from support import KUBEMCP, REPO, RemoteServer, probe_entry, write_catalog


def test_secret_set_ls_rm(isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["secret", "set", "github.token=ghp_TOPSECRET", "other=x"]) == 0
    store = isolated_home / "secrets.env"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert main(["secret", "ls"]) == 0
    out = capsys.readouterr()
    assert out.out.split() == ["github.token", "other"]
    assert "ghp_TOPSECRET" not in out.out + out.err
    assert main(["secret", "rm", "other"]) == 0
    assert main(["secret", "rm", "other"]) == 1
    assert "no such secret: other" in capsys.readouterr().err
    assert store.read_text() == "github.token=ghp_TOPSECRET\n"


def test_secret_value_from_stdin(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin\n"))
    assert main(["secret", "set", "api.key"]) == 0
    assert (isolated_home / "secrets.env").read_text() == "api.key=from-stdin\n"


def _kubemcp(*args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    import os

    return subprocess.run(
        [str(KUBEMCP), *args], input=stdin, capture_output=True, timeout=60, env={**os.environ, **(env or {})}
    )


@pytest.mark.parametrize(
    "value",
    ["multi\nline\n", "a\rb\u2028c", '  "quoted" and spaced  ', "é ✓ \\ \t"],
    ids=["newlines", "separators", "quotes-spaces", "unicode"],
)
def test_secret_set_keeps_any_value_exactly(isolated_home: Path, value: str) -> None:
    # On standard input, the one newline `echo` adds is dropped; as NAME=value, nothing is.
    run = _kubemcp("secret", "set", "from.stdin", stdin=(value + "\n").encode())
    assert run.returncode == 0, run.stderr
    run = _kubemcp("secret", "set", f"from.argv={value}")
    assert run.returncode == 0, run.stderr
    stored = read_secrets(isolated_home / "secrets.env")
    assert stored == {"from.stdin": value, "from.argv": value}


@pytest.mark.parametrize(
    ("stdin", "problem"), [(b"bad\xff\xfe", "not valid UTF-8"), (b"a\x00b", "NUL character")], ids=["utf8", "nul"]
)
def test_secret_set_refuses_what_cannot_be_kept(isolated_home: Path, stdin: bytes, problem: str) -> None:
    run = _kubemcp("secret", "set", "bad.value", stdin=stdin)
    assert run.returncode == 1
    assert problem in run.stderr.decode()
    assert "Traceback" not in run.stderr.decode()
    assert not (isolated_home / "secrets.env").exists()


def test_token_create_ls_show_rm(isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create", "alice"]) == 0
    tokens = isolated_home / "tokens.env"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    created = capsys.readouterr()
    assert "kubemcp token show alice" in created.err
    assert main(["token", "show", "alice"]) == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 40
    assert token not in created.out + created.err  # only `show` prints a token
    assert main(["token", "create", "alice"]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["token", "create", "bob"]) == 0
    assert main(["token", "ls"]) == 0
    listed = capsys.readouterr().out
    assert listed.split() == ["alice", "bob"]
    assert token not in listed
    assert main(["token", "show", "alice", "--format", "json", "--url", "http://127.0.0.1:9/mcp"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["mcpServers"]["kubemcp"] == {
        "type": "http",
        "url": "http://127.0.0.1:9/mcp",
        "headers": {"Authorization": f"Bearer {token}"},
    }
    assert main(["token", "create", "alice", "--replace"]) == 0
    assert main(["token", "show", "alice", "--format", "header"]) == 0
    rotated = capsys.readouterr().out.strip()
    assert rotated.startswith("Authorization: Bearer ")
    assert token not in rotated
    assert main(["token", "rm", "alice"]) == 0
    assert main(["token", "rm", "alice"]) == 1
    assert main(["token", "show", "alice"]) == 1
    assert main(["token", "create", "no spaces"]) == 1


def test_server_add_list_remove(tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = write_catalog(tmp_path / "c.yaml", {"alpha": probe_entry("alpha"), "beta": probe_entry("beta")})
    assert main(["server", "--catalog", str(catalog), "add", "beta", "alpha"]) == 0
    assert yaml.safe_load((isolated_home / "registry.yaml").read_text()) == {
        "registry": {"alpha": {"ref": ""}, "beta": {"ref": ""}}
    }
    assert main(["server", "--catalog", str(catalog), "add", "gamma"]) == 1
    assert "not in the catalog: gamma" in capsys.readouterr().err
    assert main(["server", "remove", "alpha"]) == 0
    assert main(["server", "list"]) == 0
    assert capsys.readouterr().out.split() == ["beta"]


def test_catalog_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "show", "--catalog", str(REPO / "examples" / "catalog.yaml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("dice") and "2 tools" in line for line in lines)
    assert main(["catalog", "show", "--catalog", str(REPO / "examples" / "catalog.yaml"), "--format", "json"]) == 0
    assert '"dice"' in capsys.readouterr().out


def _gateway(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBEMCP), "gateway", "run", *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def test_malformed_catalog_stops_start_up_naming_file_line_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 2\nregistry:\n  ok:\n    image: x\n  broken:\n    process:\n      command: 42\n")
    run = _gateway("--catalog", str(bad))
    assert run.returncode == 1
    assert f"{bad}:7: field 'registry.broken.process.command'" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""


def test_settings_errors_are_clear(tmp_path: Path) -> None:
    run = _gateway()
    assert run.returncode == 1
    assert "no catalog" in run.stderr
    catalog = write_catalog(tmp_path / "c.yaml", {"probe": probe_entry()})
    run = _gateway("--catalog", str(catalog), "--servers", "nope")
    assert run.returncode == 1
    assert "--servers names servers that are in no catalog: nope" in run.stderr
    run = _gateway("--catalog", str(catalog), "--port", "70000")
    assert run.returncode == 1
    assert "port" in run.stderr


def test_dry_run_lists_what_would_be_served(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "c.yaml", {"alpha": probe_entry("alpha"), "beta": probe_entry("beta")})
    run = _gateway("--catalog", str(catalog), "--dry-run", "--tools", "alpha:echo,beta:*")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "2 servers, 17 tools"  # alpha:echo and the sixteen tools of beta
    assert "server alpha (per call)" in lines
    assert "  tool alpha__echo -> echo" in lines
    assert "  tool alpha__whoami -> whoami" not in lines
    assert "  tool beta__whoami -> whoami" in lines


def test_dry_run_connects_to_a_remote_server(tmp_path: Path) -> None:
    with RemoteServer("sse") as remote:
        catalog = write_catalog(tmp_path / "c.yaml", {"hosted": remote.entry()})
        run = _gateway("--catalog", str(catalog), "--dry-run")
    assert run.returncode == 0, run.stderr
    assert "server hosted (per call)" in run.stdout
    assert "  tool summarize" in run.stdout
    assert "  prompt greet" in run.stdout


def test_dry_run_of_the_example_catalog(tmp_path: Path) -> None:
    examples = REPO / "examples"
    run = _gateway(
        "--catalog", str(examples / "catalog.yaml"), "--config", str(examples / "config.yaml"),
        "--servers", "dice,notes,time", "--long-lived", "--dry-run",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "server dice (long-lived)" in run.stdout
    assert "  tool roll_notation" in run.stdout
    assert "  tool get_current_time" in run.stdout
    assert "  prompt initiative" in run.stdout


def test_dry_run_names_refused_servers_and_serves_the_rest() -> None:
    run = _gateway("--catalog", str(REPO / "tests" / "fixtures" / "docker" / "refused.yaml"), "--dry-run")
    assert run.returncode == 0, run.stderr
    assert "server fine (per call)" in run.stdout
    assert "server piped refused" in run.stdout
    assert "unknown template function 'sparkle'" in run.stdout
    assert "field 'registry.piped.command[0]'" in run.stderr  # logged too
