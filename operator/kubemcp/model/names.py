"""Naming rules, one home for each.

Server names: lowercase letters, digits, '-' and '_', at most 63, starting and ending with a letter
or digit (they become DNS labels in the cluster).

Docker's catalogs also allow capitals and dots (`SQLite`, `io.github.org.server`). Such a name
loads: kubemcp serves it under `server_name_for(name)` — lowercased, each '.' written as '-'
(`io-github-org-server`) — which is the name in tool prefixes, `kubemcp server ...`, MCPCatalog
entries and Pod labels. Files keep Docker's names: `registry.yaml` may enable either spelling, and
`config.yaml` is read under Docker's key (`config_key`: dots written as '_', `io_github_org_server`),
then the kubemcp name. Two names that map to one kubemcp name in one file: the second is refused.

Tools and prompts served from many servers:
- A name that exactly one served server offers is served unchanged.
- A name that several servers offer is served by none of them bare: each copy is served as
  `<server>__<name>`, so a collision never silently sends a call to the wrong server, and adding
  a server never changes which server an existing bare name reaches.
- With `prefix_all`, every name is served as `<server>__<name>`.
- A catalog entry's `prefix` (Docker's field) serves every tool of that server as `<prefix>__<name>`;
  should two servers end up with one such name, each is served as `<server>__<name>` instead.

Resources are addressed by URI: when two servers offer the same URI, the server first in served
order (the registry's order) serves it, and the shadowed one is logged.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from kubemcp.errors import SecretStoreError

SERVER_NAME_PATTERN = r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$"
SERVER_NAME = re.compile(SERVER_NAME_PATTERN)
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
ENV_NAME = re.compile(ENV_NAME_PATTERN)
SECRET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # noqa: S105 - a pattern for names
SECRET_NAME = re.compile(SECRET_NAME_PATTERN)
SEPARATOR = "__"

T = TypeVar("T")


def check_server_name(name: str) -> str:
    if not SERVER_NAME.match(name):
        raise ValueError(
            f"server name {name!r} must be lowercase letters, digits, '-' or '_' (at most 63), "
            "starting and ending with a letter or digit"
        )
    return name


CATALOG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def server_name_for(catalog_name: str) -> str:
    """The kubemcp name of a catalog entry named the Docker way; ValueError when there is none."""
    if not CATALOG_NAME.match(catalog_name):
        raise ValueError(
            f"server name {catalog_name!r} must be letters, digits, '.', '-' or '_', starting with a letter or digit"
        )
    name = catalog_name.lower().replace(".", "-")
    if not SERVER_NAME.match(name):
        raise ValueError(
            f"server name {catalog_name!r} (served as {name!r}) must be at most 63 characters "
            "and end with a letter or digit"
        )
    return name


def config_key(catalog_name: str) -> str:
    """Docker's key for a server in config.yaml and in `{{...}}` templates: dots written as '_'."""
    return catalog_name.replace(".", "_")


def check_secret_name(name: str) -> str:
    if not SECRET_NAME.match(name):
        raise SecretStoreError(f"secret name {name!r} must be letters, digits, '.', '_' or '-'")
    return name


def dns_label(text: str, limit: int = 40) -> str:
    """A DNS label made from `text` (for object names and label values)."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return cleaned[:limit].strip("-") or "server"


def qualified(server: str, name: str) -> str:
    return f"{server}{SEPARATOR}{name}"


def public_names(
    offered: list[tuple[str, str]], *, prefix_all: bool = False, prefixes: Mapping[str, str] | None = None
) -> dict[tuple[str, str], str]:
    """Map each (server, name) to the name clients see."""
    prefixes = prefixes or {}
    fixed = {(server, name): qualified(prefixes[server], name) for server, name in offered if prefixes.get(server)}
    fixed_counts = Counter(fixed.values())
    counts = Counter(name for server, name in offered if (server, name) not in fixed) + fixed_counts
    result = {}
    for server, name in offered:
        if (server, name) in fixed:
            public = fixed[(server, name)]
            result[(server, name)] = public if fixed_counts[public] == 1 else qualified(server, name)
        else:
            result[(server, name)] = qualified(server, name) if prefix_all or counts[name] > 1 else name
    return result


def tool_selected(tool_filter: set[str] | None, server: str, name: str, public: str) -> bool:
    """Whether a `--tools` filter (names, public names, `server:tool`, `server:*`) lets a tool through."""
    if not tool_filter:
        return True
    return bool({name, public, f"{server}:{name}", f"{server}:*"} & tool_filter)


def unique_by_name(items: Iterable[T], name: Callable[[T], str], first: Callable[[T], bool]) -> tuple[list[T], list[T]]:
    """One item per name: those for which `first` holds win, then the earliest; returns (kept, dropped)."""
    kept: dict[str, T] = {}
    dropped: list[T] = []
    for item in sorted(items, key=lambda item: not first(item)):
        if name(item) in kept:
            dropped.append(item)
        else:
            kept[name(item)] = item
    return list(kept.values()), dropped
