"""The `docker mcp` command set, run as a user runs it: `kubemcp` as a child process with its own HOME
and KUBEMCP_HOME."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from support import KUBEMCP, REPO

EXAMPLES = REPO / "examples" / "catalog.yaml"
FIXTURES = REPO / "tests" / "fixtures" / "docker"


@pytest.fixture
def user(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    (home / ".kubemcp").mkdir(parents=True)
    return {
        **os.environ,
        "HOME": str(home),
        "KUBEMCP_HOME": str(home / ".kubemcp"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }


def kubemcp(
    env: dict[str, str], *args: str, stdin: str | None = None, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    run = subprocess.run([str(KUBEMCP), *args], capture_output=True, text=True, timeout=120, env=env, input=stdin or "")
    if ok:
        assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    return run


def test_catalog_ls_add_rm(user: dict[str, str]) -> None:
    kubemcp(user, "catalog", "add", "examples", str(EXAMPLES))
    kubemcp(user, "catalog", "add", "picked", "GitHub.Official", str(FIXTURES / "catalog-v3.yaml"))
    listed = kubemcp(user, "catalog", "ls").stdout
    assert "examples" in listed
    assert "5 servers" in listed
    assert "picked" in listed
    assert "1 servers" in listed
    picked = yaml.safe_load((Path(user["KUBEMCP_HOME"]) / "catalogs" / "picked.yaml").read_text())
    assert list(picked["registry"]) == ["GitHub.Official"]
    kubemcp(user, "catalog", "rm", "picked")
    assert "picked" not in kubemcp(user, "catalog", "ls").stdout
    missing = kubemcp(user, "catalog", "rm", "picked", ok=False)
    assert missing.returncode == 1
    assert "no catalog 'picked'" in missing.stderr


def test_server_enable_inspect_disable_with_the_old_names_too(user: dict[str, str]) -> None:
    kubemcp(user, "catalog", "add", "docker-mcp", str(FIXTURES / "catalog-v3.yaml"))
    kubemcp(user, "server", "enable", "GitHub.Official", "files")
    kubemcp(user, "server", "add", "scratch")  # the old name still works
    registry = yaml.safe_load((Path(user["KUBEMCP_HOME"]) / "registry.yaml").read_text())
    assert list(registry["registry"]) == ["GitHub.Official", "files", "scratch"]  # Docker's spelling is kept
    assert kubemcp(user, "server", "ls").stdout.split() == ["GitHub.Official", "files", "scratch"]
    assert kubemcp(user, "server", "list", "--json").stdout.strip() == '["GitHub.Official", "files", "scratch"]'
    kubemcp(user, "secret", "set", "github.personal_access_token=ghp_x")
    shown = yaml.safe_load(kubemcp(user, "server", "inspect", "github-official").stdout)
    assert shown["catalogName"] == "GitHub.Official"
    assert shown["enabled"] is True
    assert shown["secrets"] == {"github.personal_access_token": "set"}
    assert "ghp_x" not in json.dumps(shown)
    kubemcp(user, "server", "disable", "github-official")
    kubemcp(user, "server", "remove", "scratch")
    assert kubemcp(user, "server", "ls").stdout.split() == ["files"]
    unknown = kubemcp(user, "server", "enable", "nope", ok=False)
    assert "not in the catalog: nope" in unknown.stderr


def test_tools_ls_inspect_call(user: dict[str, str]) -> None:
    kubemcp(user, "catalog", "add", "examples", str(EXAMPLES))
    kubemcp(user, "server", "enable", "dice")
    listed = kubemcp(user, "tools", "ls").stdout
    assert listed.splitlines()[0] == "2 tools:"
    assert " - roll_notation - " in listed
    inspected = json.loads(kubemcp(user, "tools", "inspect", "roll_notation", "--format", "json").stdout)
    assert inspected["inputSchema"]["required"] == ["notation"]
    called = json.loads(kubemcp(user, "tools", "call", "roll_notation", "notation=2d2+10").stdout)
    assert 12 <= called["total"] <= 14
    assert called["modifier"] == 10
    failed = kubemcp(user, "tools", "call", "roll_notation", "notation=zz", ok=False)
    assert failed.returncode == 1
    assert "returned an error" in failed.stderr
    absent = kubemcp(user, "tools", "call", "nope", ok=False)
    assert "no tool 'nope'" in absent.stderr


def test_config_read_write_refuses_bad_yaml_and_keeps_the_file(user: dict[str, str]) -> None:
    kubemcp(user, "config", "write", "notes: {db_path: /tmp/n.db}")
    assert yaml.safe_load(kubemcp(user, "config", "read").stdout) == {"notes": {"db_path": "/tmp/n.db"}}
    kubemcp(user, "config", "write", stdin="dice: {sides: 6}\n")
    bad = kubemcp(user, "config", "write", "dice: [unclosed", ok=False)
    assert bad.returncode == 1
    assert "invalid YAML" in bad.stderr
    wrong = kubemcp(user, "config", "write", "just a string", ok=False)
    assert wrong.returncode == 1
    assert yaml.safe_load(kubemcp(user, "config", "read").stdout) == {"dice": {"sides": 6}}


CLIENT_FILES = {
    "claude-desktop": (".config/Claude/claude_desktop_config.json", "mcpServers"),
    "claude-code": (".claude.json", "mcpServers"),
    "cursor": (".cursor/mcp.json", "mcpServers"),
    "vscode": (".config/Code/User/mcp.json", "servers"),
    "windsurf": (".codeium/windsurf/mcp_config.json", "mcpServers"),
    "zed": (".config/zed/settings.json", "context_servers"),
    "gemini": (".gemini/settings.json", "mcpServers"),
}


@pytest.mark.parametrize("client", sorted(CLIENT_FILES))
def test_client_connect_keeps_other_entries_and_a_backup(user: dict[str, str], client: str) -> None:
    relative, key = CLIENT_FILES[client]
    path = Path(user["HOME"]) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    original = {key: {"other": {"command": "other-server"}}, "theme": "dark"}
    path.write_text(json.dumps(original))
    kubemcp(user, "client", "connect", client)
    written = json.loads(path.read_text())
    assert written["theme"] == "dark"
    assert written[key]["other"] == {"command": "other-server"}
    entry = written[key]["kubemcp"]
    assert entry["command"] == str(KUBEMCP)
    assert entry["args"] == ["gateway", "run"]
    assert entry["env"] == {"KUBEMCP_HOME": user["KUBEMCP_HOME"]}
    assert json.loads(path.with_name(path.name + ".kubemcp-backup").read_text()) == original
    assert f"{client}" in kubemcp(user, "client", "ls").stdout
    assert any(line.split()[:2] == [client, "connected"] for line in kubemcp(user, "client", "ls").stdout.splitlines())
    kubemcp(user, "client", "disconnect", client)
    assert json.loads(path.read_text()) == original


def test_the_stdio_entry_starts_the_gateway(user: dict[str, str]) -> None:
    kubemcp(user, "catalog", "add", "examples", str(EXAMPLES))
    kubemcp(user, "client", "connect", "claude-desktop")
    config = json.loads((Path(user["HOME"]) / CLIENT_FILES["claude-desktop"][0]).read_text())
    entry = config["mcpServers"]["kubemcp"]
    hello = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})  # fmt: skip
    started = subprocess.run(
        [entry["command"], *entry["args"]], input=hello + "\n", capture_output=True, text=True, timeout=60,
        env={**user, **entry["env"]},
    )  # fmt: skip
    assert json.loads(started.stdout.splitlines()[0])["result"]["serverInfo"]["name"] == "kubemcp"


def test_client_connect_http_and_yaml_clients(user: dict[str, str]) -> None:
    kubemcp(user, "client", "connect", "vscode", "--url", "http://127.0.0.1:8811/mcp")
    vscode = json.loads((Path(user["HOME"]) / ".config/Code/User/mcp.json").read_text())
    assert vscode["servers"]["kubemcp"] == {"type": "http", "url": "http://127.0.0.1:8811/mcp"}
    kubemcp(user, "client", "connect", "continue")
    continued = yaml.safe_load((Path(user["HOME"]) / ".continue/config.yaml").read_text())
    assert continued["mcpServers"][0]["name"] == "kubemcp"
    kubemcp(user, "client", "disconnect", "continue")
    assert yaml.safe_load((Path(user["HOME"]) / ".continue/config.yaml").read_text())["mcpServers"] == []
    broken = Path(user["HOME"]) / ".cursor/mcp.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{ // comments are not JSON\n}")
    refused = kubemcp(user, "client", "connect", "cursor", ok=False)
    assert refused.returncode == 1
    assert "left unchanged" in refused.stderr
    assert broken.read_text() == "{ // comments are not JSON\n}"


COMMANDS = [
    ["gateway", "run"], ["tools"], ["tools", "ls"], ["tools", "call"], ["tools", "inspect"], ["server"],
    ["server", "ls"], ["server", "inspect"], ["server", "enable"], ["server", "disable"], ["catalog"],
    ["catalog", "ls"], ["catalog", "add"], ["catalog", "rm"], ["catalog", "show"], ["catalog", "import"],
    ["config"], ["config", "read"], ["config", "write"], ["client"], ["client", "ls"], ["client", "connect"],
    ["client", "disconnect"], ["secret", "set"], ["completion"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_of_each_command_shows_an_example(user: dict[str, str], command: list[str]) -> None:
    shown = kubemcp(user, *command, "--help").stdout
    assert "examples:\n  kubemcp " in shown


def test_shell_completion(user: dict[str, str], tmp_path: Path) -> None:
    script = kubemcp(user, "completion", "bash").stdout
    assert "complete" in script
    assert "kubemcp" in script
    out = tmp_path / "completions"
    line = "kubemcp server en"
    env = {**user, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
           "_ARGCOMPLETE_STDOUT_FILENAME": str(out), "_ARGCOMPLETE_IFS": "\n"}  # fmt: skip
    subprocess.run([str(KUBEMCP)], env=env, capture_output=True, timeout=30, check=False)
    assert "enable" in out.read_text().split()
