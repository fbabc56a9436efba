"""Secret masking: the one place that knows how a secret value can appear in text we write.

A value is masked in every form it takes in logs, errors and listings: as itself, JSON-escaped
(with or without `ensure_ascii`, as a JSON encoder writes quotes, backslashes, control and
non-ASCII characters), as Python's `repr` escapes it, and escaped twice (a JSON message quoted
inside another one, or in a debug log's repr).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable

MASK = "***"


def _json(value: str) -> str:
    return json.dumps(value)[1:-1]


def _json_unicode(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _json_html_safe(value: str) -> str:
    """Go's encoding/json (many MCP servers) also escapes `<`, `>` and `&`."""
    return _json(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _repr(value: str) -> str:
    return repr(value)[1:-1]


def _bytes_repr(value: str) -> str:
    return repr(value.encode("utf-8", "surrogatepass"))[2:-1]


_ENCODINGS = (_json, _json_unicode, _json_html_safe, _repr, _bytes_repr)
_DEPTH = 2  # a JSON document carried as a string inside another one, a repr of a JSON line


def forms(value: str) -> set[str]:
    """The spellings of `value` that may appear in text: raw, JSON-escaped (as Python, JavaScript or Go
    write it), repr-escaped (as text or UTF-8 bytes), and each of those escaped once more."""
    if not value:
        return set()
    found = {value}
    layer = {value}
    for _ in range(_DEPTH):
        layer = {encode(form) for form in layer for encode in _ENCODINGS} - found
        found |= layer
    return {form for form in found if form}


def mask(text: str, values: Iterable[str]) -> str:
    """`text` with every form of every value replaced by `***` (longest first, so no piece survives)."""
    spellings = sorted({form for value in values for form in forms(value)}, key=len, reverse=True)
    for spelling in spellings:
        text = text.replace(spelling, MASK)
    return text


class SecretValues:
    """The secret values known now; updated whenever the secret store is (re)read. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spellings: tuple[str, ...] = ()
        self._values: frozenset[str] = frozenset()

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            new = {value for value in values if value} - self._values
            if new:
                self._set(self._values | new)

    def _set(self, values: frozenset[str]) -> None:
        spellings = {form for value in values for form in forms(value)}
        self._spellings = tuple(sorted(spellings, key=len, reverse=True))
        self._values = values

    @property
    def values(self) -> frozenset[str]:
        """The values themselves (a new set object whenever one is added)."""
        return self._values

    def __bool__(self) -> bool:
        return bool(self._spellings)

    def mask(self, text: str) -> str:
        for spelling in self._spellings:
            text = text.replace(spelling, MASK)
        return text


known_secrets = SecretValues()
"""Every secret value this process has read; logs and errors are masked with it."""
