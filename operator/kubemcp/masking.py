"""Secret masking: the one place that knows how a secret value can appear in text we write.

A value is masked in every form it takes in logs, errors and listings: as itself, JSON-escaped
(with or without `ensure_ascii`, as a JSON encoder writes quotes, backslashes, control and
non-ASCII characters) and as Python's `repr` escapes it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable

MASK = "***"


def forms(value: str) -> set[str]:
    """The spellings of `value` that may appear in text: raw, JSON-escaped, repr-escaped."""
    if not value:
        return set()
    found = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1]}
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
            self._set(self._values | {value for value in values if value})

    def _set(self, values: frozenset[str]) -> None:
        self._values = values
        spellings = {form for value in values for form in forms(value)}
        self._spellings = tuple(sorted(spellings, key=len, reverse=True))

    def __bool__(self) -> bool:
        return bool(self._spellings)

    def mask(self, text: str) -> str:
        for spelling in self._spellings:
            text = text.replace(spelling, MASK)
        return text


known_secrets = SecretValues()
"""Every secret value this process has read; logs and errors are masked with it."""
