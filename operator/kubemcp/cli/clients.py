"""Desktop MCP clients and IDEs that `kubemcp client connect` configures, and how each file is edited.

Each client gets one entry named `kubemcp` (Docker's Toolkit names its entry `MCP_DOCKER`): either
the stdio form (the client starts `kubemcp gateway run`, which reads `$KUBEMCP_HOME`) or, with
`--url`, the client's own way of naming a streamable HTTP endpoint, with an `Authorization` header
when a bearer token is given. A file is backed up (`<file>.kubemcp-backup`) before its first
change and written atomically; every other entry in it is kept as it was.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubemcp.atomic import write_text
from kubemcp.errors import KubemcpError

ENTRY_NAME = "kubemcp"
Obj = dict[str, Any]


def bearer_token() -> str | None:
    """The token an HTTP client entry sends to the gateway: the hook for gateway authentication.
    No token exists until the gateway has authentication; then this returns the one to use."""
    return None


@dataclass(frozen=True)
class ClientKind:
    name: str
    display: str
    linux: str  # the config file under $HOME on Linux
    darwin: str  # and on macOS
    key: str = "mcpServers"
    fmt: str = "json"  # json, or yaml with a list of named entries (Continue)
    stdio_extra: tuple[tuple[str, Any], ...] = ()
    http: Callable[[str, Obj], Obj] = lambda url, headers: {"url": url, **({"headers": headers} if headers else {})}

    def path(self, home: Path) -> Path:
        return home / (self.darwin if sys.platform == "darwin" else self.linux)


def _typed_http(url: str, headers: Obj) -> Obj:
    return {"type": "http", "url": url, **({"headers": headers} if headers else {})}


CLIENTS: dict[str, ClientKind] = {
    kind.name: kind
    for kind in (
        ClientKind(
            "claude-desktop",
            "Claude Desktop",
            ".config/Claude/claude_desktop_config.json",
            "Library/Application Support/Claude/claude_desktop_config.json",
        ),
        ClientKind("claude-code", "Claude Code", ".claude.json", ".claude.json", http=_typed_http),
        ClientKind("cursor", "Cursor", ".cursor/mcp.json", ".cursor/mcp.json"),
        ClientKind(
            "vscode",
            "Visual Studio Code",
            ".config/Code/User/mcp.json",
            "Library/Application Support/Code/User/mcp.json",
            key="servers",
            stdio_extra=(("type", "stdio"),),
            http=_typed_http,
        ),
        ClientKind(
            "windsurf",
            "Windsurf",
            ".codeium/windsurf/mcp_config.json",
            ".codeium/windsurf/mcp_config.json",
            http=lambda url, headers: {"serverUrl": url, **({"headers": headers} if headers else {})},
        ),
        ClientKind(
            "continue",
            "Continue",
            ".continue/config.yaml",
            ".continue/config.yaml",
            fmt="yaml",
            http=lambda url, headers: {
                "type": "streamable-http",
                "url": url,
                **({"headers": headers} if headers else {}),
            },
        ),
        ClientKind(
            "zed",
            "Zed",
            ".config/zed/settings.json",
            ".config/zed/settings.json",
            key="context_servers",
            stdio_extra=(("source", "custom"), ("enabled", True)),
        ),
        ClientKind(
            "gemini",
            "Gemini CLI",
            ".gemini/settings.json",
            ".gemini/settings.json",
            http=lambda url, headers: {"httpUrl": url, **({"headers": headers} if headers else {})},
        ),
    )
}


def client_kind(name: str) -> ClientKind:
    kind = CLIENTS.get(name)
    if kind is None:
        raise KubemcpError(f"unknown client {name!r}; supported: {', '.join(CLIENTS)}")
    return kind


def stdio_entry(kind: ClientKind, command: str, env: dict[str, str]) -> Obj:
    entry: Obj = dict(kind.stdio_extra)
    entry.update({"command": command, "args": ["gateway", "run"]})
    if env:
        entry["env"] = env
    return entry


def http_entry(kind: ClientKind, url: str, token: str | None = None) -> Obj:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return kind.http(url, headers)


def _read(kind: ClientKind, path: Path) -> Obj:
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        return {}
    try:
        data = yaml.safe_load(text) if kind.fmt == "yaml" else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise KubemcpError(
            f"{path} cannot be read as {kind.fmt.upper()} ({exc}); it was left unchanged. Add the entry by hand "
            f"under '{kind.key}' (see 'kubemcp client connect {kind.name} --print')"
        ) from None
    if not isinstance(data, dict):
        raise KubemcpError(f"{path} does not hold a mapping; it was left unchanged")
    return data


def _write(kind: ClientKind, path: Path, data: Obj) -> Path | None:
    backup = path.with_name(path.name + ".kubemcp-backup")
    made = None
    if path.is_file() and not backup.exists():
        shutil.copy2(path, backup)
        made = backup
    text = yaml.safe_dump(data, sort_keys=False) if kind.fmt == "yaml" else json.dumps(data, indent=2) + "\n"
    write_text(path, text)
    return made


def entries(kind: ClientKind, data: Obj) -> dict[str, Obj]:
    servers = data.get(kind.key)
    if kind.fmt == "yaml":
        return {str(item.get("name")): item for item in servers or [] if isinstance(item, dict)}
    return {str(name): value for name, value in (servers or {}).items()} if isinstance(servers, dict) else {}


def connect(kind: ClientKind, path: Path, entry: Obj) -> Path | None:
    """Add or replace the kubemcp entry; returns the backup made, if any."""
    data = _read(kind, path)
    if kind.fmt == "yaml":
        servers = [item for item in data.get(kind.key) or [] if item.get("name") != ENTRY_NAME]
        servers.append({"name": ENTRY_NAME, **entry})
        data[kind.key] = servers
    else:
        servers_map = data.get(kind.key)
        if not isinstance(servers_map, dict):
            servers_map = {}
        servers_map[ENTRY_NAME] = entry
        data[kind.key] = servers_map
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write(kind, path, data)


def disconnect(kind: ClientKind, path: Path) -> bool:
    """Remove the kubemcp entry; False when there was none."""
    data = _read(kind, path)
    if ENTRY_NAME not in entries(kind, data):
        return False
    if kind.fmt == "yaml":
        data[kind.key] = [item for item in data[kind.key] if item.get("name") != ENTRY_NAME]
    else:
        del data[kind.key][ENTRY_NAME]
    _write(kind, path, data)
    return True


def connected(kind: ClientKind, path: Path) -> bool | None:
    """Whether the client's file has the kubemcp entry; None when the file does not exist."""
    if not path.is_file():
        return None
    try:
        return ENTRY_NAME in entries(kind, _read(kind, path))
    except KubemcpError:
        return False
