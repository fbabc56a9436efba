"""Values handed out and checked again later (the gateway replicas' session IDs): signed with a shared key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import Any

from kubemcp.errors import SettingsError

MIN_KEY_BYTES = 32


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """HMAC-SHA256 over compact JSON; the output is visible ASCII only (a valid MCP session ID)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise SettingsError(f"the replicas' shared key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key

    @classmethod
    def from_file(cls, path: Path) -> Signer:
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            raise SettingsError(f"cannot read the replicas' key {path}: {exc.strerror or exc}") from exc
        return cls(key)

    def _mac(self, payload: str) -> str:
        return b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest()[:20])

    def sign(self, claims: dict[str, Any]) -> str:
        payload = b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this key signed, or None for anything else."""
        payload, _, mac = token.rpartition(".")
        if not payload or not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            claims = json.loads(unb64(payload))
        except ValueError:
            return None
        return claims if isinstance(claims, dict) else None


def new_key() -> str:
    """A fresh shared key (what the operator puts in the replicas' Secret)."""
    return secrets.token_urlsafe(48)
