"""Named bearer tokens, from a tokens file and/or a tokens folder, reloaded when they change.

A presented token's SHA-256 digest is compared with every known token's in constant time (digests
have one length, so not even a token's length shows); tokens are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Hashable
from pathlib import Path

from kubemcp.errors import KubemcpError
from kubemcp.files.tokens import read_tokens_dir, read_tokens_file, readable_by_others

logger = logging.getLogger(__name__)


def _file_stamp(path: Path) -> tuple[int, int, int]:
    try:
        found = path.stat()  # follows the links of a mounted Secret
    except OSError:
        return (0, 0, 0)
    return (found.st_ino, found.st_mtime_ns, found.st_size)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class StaticTokens:
    def __init__(self, file: Path | None, folder: Path | None) -> None:
        self.file = file
        self.folder = folder
        self._tokens: tuple[tuple[str, bytes], ...] = ()
        self._stamp: Hashable = None

    def describe(self) -> str:
        where = [str(p) for p in (self.file, self.folder) if p is not None]
        return f"{' and '.join(where)} ({', '.join(self.names()) or 'no tokens yet'})"

    def names(self) -> list[str]:
        return sorted({name for name, _ in self._tokens})

    def stamp(self) -> Hashable:
        stamps: list[object] = []
        if self.file is not None:
            stamps.append(_file_stamp(self.file))
        if self.folder is not None:
            try:
                entries = sorted(p for p in self.folder.iterdir() if not p.name.startswith("."))
            except OSError:
                entries = []
            stamps.append(_file_stamp(self.folder / "..data"))  # a mounted Secret swaps this link
            stamps.extend((p.name, _file_stamp(p)) for p in entries)
        return tuple(stamps)

    def load(self) -> None:
        """Read the tokens; raises a `KubemcpError` naming the problem (never a token)."""
        stamp = self.stamp()
        found: dict[str, set[str]] = {}
        if self.file is not None:
            if readable_by_others(self.file):
                logger.warning("tokens file %s can be read by other users: chmod 600 it", self.file)
            for name, token in read_tokens_file(self.file).items():
                found.setdefault(name, set()).add(token)
        if self.folder is not None:
            for name, token in read_tokens_dir(self.folder).items():
                found.setdefault(name, set()).add(token)
        self._tokens = tuple((name, _digest(token)) for name, tokens in sorted(found.items()) for token in tokens)
        self._stamp = stamp

    def changed(self) -> bool:
        return self.stamp() != self._stamp

    def reload(self) -> bool:
        """Read the tokens again when they changed; on an error keep the current ones. True when reloaded."""
        if not self.changed():
            return False
        before = self.names()
        try:
            self.load()
        except KubemcpError as exc:
            self._stamp = self.stamp()  # report each bad version once
            logger.error("not reloading the tokens, keeping the current ones: %s", exc)
            return False
        logger.info("bearer tokens reloaded: %s (before: %s)", ", ".join(self.names()) or "none", ", ".join(before))
        return True

    def principal_name(self, presented: str) -> str | None:
        """The name of the token `presented` is, compared with every token in constant time."""
        candidate = _digest(presented)
        found: str | None = None
        for name, token in self._tokens:
            if hmac.compare_digest(candidate, token) and found is None:
                found = name
        return found
