"""Bad edits of the gateway's files: bytes that are not text, YAML that is not safe to load, duplicate
keys. Shared by the file tests, the live-edit acceptance tests and the reliability suite."""

from __future__ import annotations

from collections.abc import Callable

Edit = Callable[[bytes], bytes]


def _middle(data: bytes, insert: bytes) -> bytes:
    at = data.find(b"\n", len(data) // 2)
    at = len(data) // 2 if at < 0 else at + 1
    return data[:at] + insert + data[at:]


ALIAS_BOMB = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n".encode() for i in range(8)
)

# Edits that make any YAML file (catalog, registry.yaml, config.yaml) unloadable.
YAML_EDITS: dict[str, Edit] = {
    "0xff byte in a comment": lambda data: data + b"# caf\xff\n",
    "NUL byte": lambda data: _middle(data, b"\x00"),
    "control byte 0x01": lambda data: _middle(data, b"# \x01\n"),
    "lone UTF-8 continuation bytes": lambda data: _middle(data, b"\x80\x81\n"),
    "UTF-16 text": lambda data: data.decode().encode("utf-16"),
    "truncated mid-file": lambda data: data[: len(data) // 2] + b"\n  - [unclosed",
    "tab indentation": lambda data: data + b"\n\tbroken: yes\n",
    "alias bomb": lambda data: ALIAS_BOMB,
    "alias that contains itself": lambda data: b"a: &a [1, *a]\n",
    "nested 300 deep": lambda data: b"a: " + b"[" * 300 + b"]" * 300 + b"\n",
    "nested 1,000 deep": lambda data: b"a: " + b"[" * 1_000 + b"]" * 1_000 + b"\n",
    "impossible date": lambda data: data + b"\nwhen: 2025-13-45\n",
    "mapping as a key": lambda data: data + b"\n? {a: 1}\n: x\n",
    "duplicate top-level key": lambda data: data + b"\n" + data,
    "random bytes": lambda data: bytes((i * 131 + 7) % 256 for i in range(4096)),
}

# Edits that make a secrets file unloadable (without ever showing a value in the error).
SECRETS_EDITS: dict[str, Edit] = {
    "0xff byte": lambda data: data + b"EXTRA=caf\xff\n",
    "NUL byte in a value": lambda data: data + b"EXTRA=a\x00b\n",
    "line without '='": lambda data: data + b"just some words\n",
    "name set twice": lambda data: data + data,
    "random bytes": lambda data: bytes((i * 131 + 7) % 256 for i in range(4096)),
}
