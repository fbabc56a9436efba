"""Access-token checks in process (the key set put in the verifier's cache; no network): scopes,
groups and subject; a verified token is remembered, a refused one never is."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from kubemcp.gateway.auth_jwt import InsufficientScope, InvalidToken, JwtVerifier, VerifiedJwt

pytestmark = pytest.mark.anyio

ISSUER, AUDIENCE = "https://id.test", "https://gateway.test/mcp"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _verifier(**extra: Any) -> JwtVerifier:
    verifier = JwtVerifier(
        issuer=ISSUER, jwks_url=f"{ISSUER}/jwks", audience=AUDIENCE, required_scopes=["mcp"], **extra
    )
    jwk = {**RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1", "use": "sig", "alg": "RS256"}
    assert verifier.jwks.jwk_set_cache is not None
    verifier.jwks.jwk_set_cache.put({"keys": [jwk]})
    return verifier


def _token(**claims: Any) -> str:
    payload = {"iss": ISSUER, "sub": "ada", "aud": AUDIENCE, "exp": int(time.time()) + 600, "scope": "mcp read"}
    return jwt.encode({**payload, **claims}, KEY, algorithm="RS256", headers={"kid": "k1"})


async def test_claims_become_the_principal() -> None:
    verified = await _verifier(groups_claim="roles").verify(_token(roles=["dev", "ops"], azp="inspector"))
    assert (verified.subject, verified.client_id) == ("ada", "inspector")
    assert verified.groups == {"dev", "ops"}
    assert verified.scopes == {"mcp", "read"}


async def test_a_verified_token_is_remembered_and_a_refused_one_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = _verifier()
    checked: list[str] = []
    check = verifier._verify

    async def counting(token: str) -> VerifiedJwt:
        checked.append(token)
        return await check(token)

    monkeypatch.setattr(verifier, "_verify", counting)
    good = _token()
    assert (await verifier.verify(good)) == (await verifier.verify(good))
    assert checked == [good]  # one signature check for both requests
    for refused, error in ((_token(scope="read"), InsufficientScope), (_token(aud="https://x.test"), InvalidToken)):
        for _ in range(2):
            with pytest.raises(error):
                await verifier.verify(refused)
        assert checked.count(refused) == 2
