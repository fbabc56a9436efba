"""Session IDs that say which replica owns a session and what the session was opened with."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from kubemcp.signing import Signer

PREFIX = "k1."


@dataclass(frozen=True)
class SessionClaims:
    """What a session ID carries: its owner (`host:port`), the negotiated protocol version, the client's
    capabilities and identity as it declared them, and a digest of the principal that opened it."""

    owner: str
    protocol_version: str
    capabilities: dict[str, Any]
    client_info: dict[str, Any]
    principal: str | None


def principal_digest(principal: object | None) -> str | None:
    """A short, stable digest of who opened a session (the credential's identity, never the credential)."""
    if principal is None:
        return None
    return hashlib.sha256(repr(principal).encode()).hexdigest()[:16]


class SessionIds:
    def __init__(self, signer: Signer, address: str) -> None:
        self.signer = signer
        self.address = address

    def mint(self, claims: SessionClaims) -> str:
        return PREFIX + self.signer.sign(
            {
                "o": claims.owner,
                "v": claims.protocol_version,
                "c": claims.capabilities,
                "i": claims.client_info,
                "p": claims.principal,
                "n": secrets.token_urlsafe(12),
            }
        )

    def read(self, session_id: str) -> SessionClaims | None:
        """The claims of a session ID the replicas minted, or None (unknown, forged or malformed)."""
        if not session_id.startswith(PREFIX):
            return None
        data = self.signer.verify(session_id[len(PREFIX) :])
        if data is None:
            return None
        owner, version = data.get("o"), data.get("v")
        capabilities, info, principal = data.get("c"), data.get("i"), data.get("p")
        if not isinstance(owner, str) or not isinstance(version, str):
            return None
        return SessionClaims(
            owner=owner,
            protocol_version=version,
            capabilities=capabilities if isinstance(capabilities, dict) else {},
            client_info=info if isinstance(info, dict) else {},
            principal=principal if isinstance(principal, str) else None,
        )
