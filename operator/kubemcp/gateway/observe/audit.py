"""The audit trail: one JSON record per tool call, on by default, to stderr and optionally a file.

A record says who called what, where it ran, how long it took and how it ended; arguments and
results are never written, only their sizes and keyed digests (HMAC-SHA256 with a key made at
start, so equal payloads can be matched within one gateway's records but not guessed offline).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import logging.handlers
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from kubemcp.errors import SettingsError
from kubemcp.logs import secret_mask

AUDIT_LOGGER = "kubemcp.audit"
DIGEST_KEY = secrets.token_bytes(32)


class _PrivateFileHandler(logging.handlers.WatchedFileHandler):
    """Appends to the file, creating it (again, after a rotation) readable by its owner only."""

    def _open(self) -> Any:
        descriptor = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(descriptor, "a", encoding=self.encoding or "utf-8")


def payload_summary(payload: Any) -> dict[str, Any]:
    """Size and keyed digest of a JSON payload: never the payload itself."""
    data = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    return {"bytes": len(data), "digest": hmac.new(DIGEST_KEY, data, hashlib.sha256).hexdigest()[:32]}


def timestamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


class AuditLog:
    """The `kubemcp.audit` logger, with its own handlers: records are not mixed into the root logger's format."""

    def __init__(self) -> None:
        self.logger = logging.getLogger(AUDIT_LOGGER)
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        self.enabled = False
        self.file: Path | None = None

    def configure(self, *, enabled: bool, file: Path | None) -> None:
        """Switch to these settings; a file that cannot be opened raises `SettingsError` and changes nothing."""
        if enabled == self.enabled and file == self.file and (self.logger.handlers or not enabled):
            return
        handlers: list[logging.Handler] = []
        if enabled:
            handlers.append(logging.StreamHandler(sys.stderr))
            if file is not None:
                try:
                    file.parent.mkdir(parents=True, exist_ok=True)
                    handlers.append(_PrivateFileHandler(str(file), encoding="utf-8"))
                except OSError as exc:
                    raise SettingsError(f"cannot open the audit file {file}: {exc.strerror or exc}") from None
        for handler in list(self.logger.handlers):
            self.logger.removeHandler(handler)
            handler.close()
        self.enabled, self.file = enabled, file
        for handler in handlers:
            handler.setFormatter(logging.Formatter("%(message)s"))
            handler.addFilter(secret_mask)
            self.logger.addHandler(handler)

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            self.logger.info("%s", json.dumps(record, separators=(",", ":"), default=str))

    def close(self) -> None:
        self.configure(enabled=False, file=None)
