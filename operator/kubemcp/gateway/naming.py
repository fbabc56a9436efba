"""The naming rule for tools and prompts served from many servers.

- A name that exactly one served server offers is served unchanged.
- A name that several servers offer is served by none of them bare: each copy is served as
  `<server>__<name>`, so a collision never silently sends a call to the wrong server, and adding
  a server never changes which server an existing bare name reaches.
- With `prefix_all`, every name is served as `<server>__<name>`.

Resources are addressed by URI: when two servers offer the same URI, the server first in served
order (the registry's order) serves it, and the shadowed one is logged.
"""

from __future__ import annotations

from collections import Counter

SEPARATOR = "__"


def qualified(server: str, name: str) -> str:
    return f"{server}{SEPARATOR}{name}"


def public_names(offered: list[tuple[str, str]], *, prefix_all: bool = False) -> dict[tuple[str, str], str]:
    """Map each (server, name) to the name clients see."""
    counts = Counter(name for _, name in offered)
    result: dict[tuple[str, str], str] = {}
    for server, name in offered:
        result[(server, name)] = qualified(server, name) if prefix_all or counts[name] > 1 else name
    return result
