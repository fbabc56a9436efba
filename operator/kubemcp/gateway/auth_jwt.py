"""OAuth 2.1 access tokens (JWTs) checked as a resource server: signature against the issuer's JWKS,
`iss`, `exp`, the audience bound to the gateway's resource URL (RFC 8707) and the required scopes.

Keys come from the JWKS URL through PyJWT's `PyJWKClient`: the key set is cached for
`JWKS_LIFESPAN` seconds, and a token signed with a key id that is not in the cached set makes it
fetch the set again (at most once per `min_refresh` seconds), so the issuer can rotate its keys.
Only asymmetric algorithms are accepted. Tokens are never logged or passed on to servers.

A client sends its access token with every request: a verified token is remembered (by its digest)
for at most `VERIFIED_FOR` seconds and never past its `exp`, so a session's requests do not pay for a
signature check each.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import jwt
from jwt import PyJWK, PyJWKClient

logger = logging.getLogger(__name__)

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
JWKS_LIFESPAN = 300.0
JWKS_TIMEOUT = 10.0
LEEWAY_SECONDS = 30
VERIFIED_FOR = 60.0
VERIFIED_KEPT = 1024


class InvalidToken(Exception):
    """401: the token is not one this gateway accepts. The description is safe to send back."""


class InsufficientScope(Exception):
    """403: a valid token without every required scope."""

    def __init__(self, required: list[str]) -> None:
        self.required = required
        super().__init__(f"required scopes: {' '.join(required)}")


@dataclass(frozen=True)
class VerifiedJwt:
    subject: str
    client_id: str
    scopes: frozenset[str]
    groups: frozenset[str]
    expires_at: int
    claims: dict[str, Any]


def _strings(value: Any) -> frozenset[str]:
    """A claim holding names: a list of strings or one space-separated string."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()


class JwtVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        jwks_url: str,
        audience: str,
        required_scopes: list[str],
        groups_claim: str = "groups",
        min_refresh: float = 10.0,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.required_scopes = required_scopes
        self.groups_claim = groups_claim
        self.jwks = PyJWKClient(
            jwks_url, cache_jwk_set=True, lifespan=JWKS_LIFESPAN, timeout=JWKS_TIMEOUT, cooldown_duration=min_refresh
        )
        self._verified: dict[bytes, tuple[float, VerifiedJwt]] = {}

    @staticmethod
    def looks_like_jwt(token: str) -> bool:
        return token.count(".") == 2

    def _cached_key(self, kid: str | None) -> PyJWK | None:
        cache = self.jwks.jwk_set_cache
        found = cache.get() if cache is not None else None
        if found is None:
            return None
        for key in found.keys:
            if key.key_id == kid and key.public_key_use in {"sig", None}:
                return key
        return None

    async def _signing_key(self, kid: str | None) -> PyJWK:
        key = self._cached_key(kid)
        if key is not None:
            return key
        if kid is None:
            raise InvalidToken("the token names no signing key (kid)")
        try:
            # Not cached: fetch the key set (blocking I/O, so off the event loop).
            return await anyio.to_thread.run_sync(self.jwks.get_signing_key, kid)
        except jwt.PyJWKClientConnectionError as exc:
            logger.warning("cannot fetch the issuer's keys from %s: %s", self.jwks.uri, exc)
            raise InvalidToken("the issuer's signing keys cannot be fetched") from None
        except jwt.PyJWKClientError:
            raise InvalidToken("the token's signing key is not one of the issuer's") from None

    async def verify(self, token: str) -> VerifiedJwt:
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        remembered = self._verified.get(digest)
        now = time.monotonic()
        if remembered is not None:
            until, verified = remembered
            if now < until and time.time() < verified.expires_at:
                return verified
            del self._verified[digest]
        verified = await self._verify(token)
        if len(self._verified) >= VERIFIED_KEPT:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[digest] = (now + VERIFIED_FOR, verified)
        return verified

    async def _verify(self, token: str) -> VerifiedJwt:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise InvalidToken("the token is not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken("the token's signing algorithm is not accepted")
        key = await self._signing_key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token was not issued for this gateway (audience)") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the token was not issued by the trusted issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"the token has no {exc.claim!r} claim") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("the token's signature or claims are not valid") from None
        scopes = _strings(claims.get("scope")) | _strings(claims.get("scp"))
        missing = [scope for scope in self.required_scopes if scope not in scopes]
        if missing:
            raise InsufficientScope(self.required_scopes)
        subject = str(claims["sub"])
        client_id = claims.get("client_id") or claims.get("azp") or subject
        return VerifiedJwt(
            subject=subject,
            client_id=str(client_id),
            scopes=scopes,
            groups=_strings(claims.get(self.groups_claim)),
            expires_at=int(claims["exp"]),
            claims=claims,
        )
