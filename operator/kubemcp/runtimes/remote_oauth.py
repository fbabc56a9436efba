"""OAuth for remote servers: authorized once with `kubemcp oauth authorize SERVER`, kept like a secret,
refreshed before it expires.

The mcp SDK's OAuth client does the protocol (protected resource and authorization server metadata,
dynamic client registration where the server offers it, authorization code with PKCE, refresh).
A server's tokens are one secret, `oauth.<server>`: a JSON record of the tokens, when they expire and
the client registration, in the local secret store or, in a cluster, in the MCPServer's Kubernetes
Secret. The gateway never starts an authorization itself: a token it cannot refresh fails that
server's calls with a message naming the command that fixes it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Protocol

import anyio
import httpx2
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.oauth2 import OAuthContext
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import BaseModel, ValidationError

from kubemcp.errors import ServerUnavailableError
from kubemcp.files.secrets import read_secrets, write_secrets
from kubemcp.kube.api import KubeApi
from kubemcp.kube.secret_keys import read_key, set_keys

logger = logging.getLogger(__name__)

REFRESH_MARGIN_SECONDS = 60.0


def token_secret(server: str) -> str:
    """The secret holding a server's OAuth tokens."""
    return f"oauth.{server}"


def refresh_margin(lifetime: float) -> float:
    """How long before expiry a token is refreshed: a minute, or half the lifetime of a short one."""
    return min(REFRESH_MARGIN_SECONDS, lifetime / 2)


class SecretSlot(Protocol):
    """One secret's value, read and written."""

    async def read(self) -> str | None: ...

    async def write(self, value: str) -> None: ...


class LocalSlot:
    """A secret in the local store (`NAME=value` lines, mode 0600)."""

    _locks: dict[Path, anyio.Lock] = {}

    def __init__(self, store: Path, name: str) -> None:
        self.store = store
        self.name = name
        self._lock = self._locks.setdefault(store, anyio.Lock())

    async def read(self) -> str | None:
        return read_secrets(self.store).get(self.name)

    async def write(self, value: str) -> None:
        async with self._lock:
            secrets = read_secrets(self.store)
            secrets[self.name] = value
            write_secrets(self.store, secrets)


class KubeSlot:
    """A key of a Kubernetes Secret."""

    def __init__(self, kube: KubeApi, namespace: str, secret: str, key: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.secret = secret
        self.key = key

    async def read(self) -> str | None:
        return await read_key(self.kube, self.namespace, self.secret, self.key)

    async def write(self, value: str) -> None:
        await set_keys(self.kube, self.namespace, self.secret, {self.key: value})


class TokenRecord(BaseModel):
    tokens: OAuthToken | None = None
    expires_at: float | None = None
    client: OAuthClientInformationFull | None = None


class OAuthTokens:
    """One server's stored tokens: the SDK's `TokenStorage`, and the HTTP auth that uses and refreshes them."""

    def __init__(self, server: str, url: str, slot: SecretSlot) -> None:
        self.server = server
        self.url = url
        self.slot = slot
        self.problem: str | None = None
        self._record: TokenRecord | None = None
        self._provider: _RefreshingProvider | None = None

    async def record(self) -> TokenRecord:
        if self._record is None:
            raw = await self.slot.read()
            try:
                self._record = TokenRecord.model_validate_json(raw) if raw else TokenRecord()
            except (ValidationError, ValueError):
                logger.warning("the stored OAuth tokens of %s are unreadable; ignoring them", self.server)
                self._record = TokenRecord()
        return self._record

    async def _save(self, record: TokenRecord) -> None:
        self._record = record
        await self.slot.write(json.dumps(record.model_dump(mode="json", exclude_none=True), separators=(",", ":")))

    # -- the SDK's TokenStorage ------------------------------------------------------------

    async def get_tokens(self) -> OAuthToken | None:
        return (await self.record()).tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        expires_at = time.time() + tokens.expires_in if tokens.expires_in is not None else None
        record = (await self.record()).model_copy(update={"tokens": tokens, "expires_at": expires_at})
        await self._save(record)
        self.problem = None

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return (await self.record()).client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        await self._save((await self.record()).model_copy(update={"client": client_info}))

    async def reset(self, *, keep_client: bool) -> None:
        """Forget the tokens (a new authorization starts), and the client registration unless kept."""
        record = await self.record()
        self._record = TokenRecord(client=record.client if keep_client else None)
        self._provider = None

    # -- for the gateway -------------------------------------------------------------------

    async def auth(self) -> httpx2.Auth | None:
        """The HTTP auth carrying (and refreshing) the stored token; None when nothing is stored."""
        record = await self.record()
        if record.tokens is None:
            return None
        if self._provider is None:
            metadata = OAuthClientMetadata.model_validate(
                {"redirect_uris": (record.client.redirect_uris if record.client else None) or ["http://127.0.0.1/"]}
            )
            self._provider = _RefreshingProvider(self, metadata)
        return self._provider

    def explain(self) -> str | None:
        return self.problem


@dataclasses.dataclass
class _EarlyExpiry(OAuthContext):
    """The SDK's OAuth context, counting a token as expired `refresh_margin` early, so it is refreshed first."""

    def update_token_expiry(self, token: OAuthToken) -> None:
        super().update_token_expiry(token)
        if self.token_expiry_time is not None and token.expires_in:
            self.token_expiry_time -= refresh_margin(token.expires_in)


class _RefreshingProvider(OAuthClientProvider):
    """The SDK's OAuth client with stored tokens; it refreshes them, but never starts an authorization."""

    def __init__(self, tokens: OAuthTokens, metadata: OAuthClientMetadata) -> None:
        super().__init__(tokens.url, metadata, tokens, self._authorization_needed, self._no_callback)
        self.tokens = tokens
        fields = {f.name: getattr(self.context, f.name) for f in dataclasses.fields(self.context) if f.init}
        self.context = _EarlyExpiry(**fields)

    async def _initialize(self) -> None:
        await super()._initialize()
        record = await self.tokens.record()
        if record.expires_at is not None and record.tokens is not None and record.tokens.expires_in:
            self.context.token_expiry_time = record.expires_at - refresh_margin(record.tokens.expires_in)

    async def _authorization_needed(self, url: str) -> None:
        self.tokens.problem = (
            f"the OAuth token of {self.tokens.server!r} is missing, expired or revoked and cannot be refreshed; "
            f"run 'kubemcp oauth authorize {self.tokens.server}'"
        )
        raise ServerUnavailableError(self.tokens.server, self.tokens.problem)

    async def _no_callback(self) -> AuthorizationCodeResult:
        raise AssertionError("unreachable: authorization is never started by the gateway")
