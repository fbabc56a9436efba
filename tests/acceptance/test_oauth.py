"""The gateway as an OAuth 2.1 resource server, against a test issuer of our own on loopback: RSA keys
from `cryptography`, JWTs signed with PyJWT, the key set served over HTTP. Good tokens work; a wrong
audience, issuer, key or signature, an expired token and a missing scope do not; keys rotate."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from mcp.shared.exceptions import MCPError
from support import (
    ACCEPT,
    GatewayProcess,
    bearer,
    isolated_env,
    probe_entry,
    time_entry,
    tool_value,
    ui_cookie,
    ui_sign_in,
    write_catalog,
)

pytestmark = pytest.mark.anyio

AUDIENCE = "https://gateway.test/mcp"
SCOPE = "mcp.use"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "oauth", "version": "1"}},
}


@dataclass
class Issuer:
    """A minimal authorization server: it signs access tokens and publishes its key set at `/jwks`."""

    url: str = ""
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    fetches: int = 0

    def new_key(self, *, publish: bool = True) -> str:
        kid = f"key-{len(self.keys) + 1}"
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if publish:
            self.published.append(kid)
        return kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            jwk = RSAAlgorithm.to_jwk(self.keys[kid].public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def token(self, kid: str | None = None, *, expires_in: int = 300, scope: str = SCOPE, **claims: Any) -> str:
        kid = kid or self.published[0]
        now = int(time.time())
        payload = {
            "iss": self.url,
            "sub": "ada",
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + expires_in,
            "scope": scope,
            "client_id": "test-client",
            **claims,
        }
        return jwt.encode(payload, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    found = Issuer()
    found.new_key()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/jwks":
                self.send_error(404)
                return
            found.fetches += 1
            body = json.dumps(found.jwks()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


POLICY = """\
rules:
  - principals: [group:dev]
    allow: ["probe:*"]
  - principals: [sub:grace]
    allow: ["time:*"]
"""


@pytest.fixture(scope="module")
def gateway(issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("oauth")
    catalog = write_catalog(root / "catalog.yaml", {"probe": probe_entry(), "time": time_entry()})
    (root / "authz.yaml").write_text(POLICY)
    args = [
        "--transport", "streaming", "--port", "0", "--catalog", str(catalog), "--authz", str(root / "authz.yaml"),
        "--oauth-issuer", issuer.url, "--oauth-jwks-url", f"{issuer.url}/jwks", "--oauth-audience", AUDIENCE,
        "--oauth-scopes", SCOPE, "--oauth-jwks-min-refresh", "0.5",
    ]  # fmt: skip
    with GatewayProcess(args, root / "gateway.log", isolated_env(root)) as started:
        yield started


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=30) as client:
        yield client


async def _post(http: httpx2.AsyncClient, gateway: GatewayProcess, token: str | None) -> httpx2.Response:
    return await http.post(gateway.url, json=INITIALIZE, headers={**ACCEPT, **(bearer(token) if token else {})})


async def test_a_good_token_is_served_as_its_subject(issuer: Issuer, gateway: GatewayProcess) -> None:
    gateway.token = issuer.token(groups=["dev"])
    with anyio.fail_after(60):
        async with gateway.client() as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert "echo" in tools
            assert "get_current_time" not in tools  # the policy gives the dev group the probe only
            assert tool_value(await client.call_tool("echo", {"text": "hello"})) == "hello"
            with pytest.raises(MCPError, match="not allowed for sub:ada"):
                await client.call_tool("get_current_time", {"timezone": "UTC"})
    gateway.token = issuer.token(sub="grace")
    async with gateway.client() as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == {"get_current_time", "convert_time"}
    assert "denied tool get_current_time (time/get_current_time) to sub:ada" in gateway.log


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(payload: str, key: bytes) -> str:
    """A token signed with HMAC, the issuer's public key as the secret (PyJWT refuses to make one)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "key-1"}).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _wrong_tokens(issuer: Issuer) -> dict[str, tuple[str, str]]:
    unpublished = issuer.new_key(publish=False)
    public_pem = (
        issuer.keys[issuer.published[0]]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    good = issuer.token()
    header, payload, _ = good.split(".")
    forged = issuer.token(unpublished)
    return {
        "wrong audience": (issuer.token(aud="https://other.test/mcp"), "audience"),
        "expired": (issuer.token(expires_in=-3600), "expired"),
        "wrong issuer": (issuer.token(iss="https://evil.test"), "trusted issuer"),
        "unknown key": (issuer.token(unpublished), "signing key"),
        "bad signature": (f"{header}.{payload}.{forged.split('.')[2]}", "signature"),
        "no subject": (issuer.token(sub=None), "'sub'"),
        # HS256 with the public key as the secret (algorithm confusion) and no signature at all.
        "hs256": (_hs256(payload, public_pem), "algorithm"),
        "none": (jwt.encode({"sub": "x"}, "", algorithm="none"), "algorithm"),
        "not a jwt": ("opaque-" + secrets.token_urlsafe(32), "not valid"),
    }


async def test_tokens_the_gateway_must_refuse(
    issuer: Issuer, gateway: GatewayProcess, http: httpx2.AsyncClient
) -> None:
    for case, (token, why) in _wrong_tokens(issuer).items():
        response = await _post(http, gateway, token)
        assert response.status_code == 401, case
        challenge = response.headers["www-authenticate"]
        assert 'error="invalid_token"' in challenge, case
        assert why in response.json()["error_description"], (case, response.json())
        assert token not in gateway.log, case


async def test_a_token_without_the_required_scope_gets_403(
    issuer: Issuer, gateway: GatewayProcess, http: httpx2.AsyncClient
) -> None:
    response = await _post(http, gateway, issuer.token(scope="other.scope"))
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert f'scope="{SCOPE}"' in challenge


async def test_protected_resource_metadata(gateway: GatewayProcess, issuer: Issuer, http: httpx2.AsyncClient) -> None:
    refused = await _post(http, gateway, None)
    assert refused.status_code == 401
    metadata_url = "https://gateway.test/.well-known/oauth-protected-resource/mcp"
    assert refused.headers["www-authenticate"] == f'Bearer realm="kubemcp", resource_metadata="{metadata_url}"'
    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        response = await http.get(f"{gateway.base}{path}")
        assert response.status_code == 200, path
        metadata = response.json()
        assert metadata["resource"] == AUDIENCE
        assert [server.rstrip("/") for server in metadata["authorization_servers"]] == [issuer.url]
        assert metadata["scopes_supported"] == [SCOPE]
        assert metadata["bearer_methods_supported"] == ["header"]


async def test_a_browser_signs_in_to_the_status_page_with_an_access_token(
    issuer: Issuer, gateway: GatewayProcess
) -> None:
    page = httpx2.get(f"{gateway.base}/ui", timeout=10)
    assert page.status_code == 401
    assert 'name="token"' in page.text
    assert "resource_metadata=" in page.headers["www-authenticate"]  # as on /mcp
    signed_in = ui_sign_in(gateway.base, issuer.token(sub="grace", expires_in=600))
    assert signed_in.status_code == 303
    [cookie] = signed_in.headers.get_list("set-cookie")
    max_age = int(re.findall(r"Max-Age=(\d+)", cookie)[0])
    assert 500 < max_age <= 600  # not the 8 hours of a named token: never past the token's exp
    state = httpx2.get(f"{gateway.base}/ui/state", headers=ui_cookie(signed_in), timeout=10).json()
    assert state["principal"] == "sub:grace"
    assert [server["name"] for server in state["servers"]] == ["time"]  # what the policy gives grace
    assert "sub:grace signed in to the status page" in gateway.log
    missing_scope = ui_sign_in(gateway.base, issuer.token(scope="other.scope"))
    assert missing_scope.status_code == 403
    assert f"Sign-in failed: required scopes: {SCOPE}." in missing_scope.text
    for expires_in in (-3600, -5):  # long expired; within the clock-skew leeway, but no time left
        expired = ui_sign_in(gateway.base, issuer.token(expires_in=expires_in))
        assert expired.status_code == 401, expires_in
        assert "Sign-in failed: the token has expired." in expired.text
        assert "set-cookie" not in expired.headers


async def test_rotated_keys_are_fetched_when_a_token_names_one(
    issuer: Issuer, gateway: GatewayProcess, http: httpx2.AsyncClient
) -> None:
    assert (await _post(http, gateway, issuer.token())).status_code == 200
    rotated = issuer.new_key()
    token = issuer.token(rotated)
    fetches = issuer.fetches
    deadline = anyio.current_time() + 20
    status = 0
    while anyio.current_time() < deadline:  # a fetch for an unknown key waits out --oauth-jwks-min-refresh
        status = (await _post(http, gateway, token)).status_code
        if status == 200:
            break
        await anyio.sleep(0.2)
    assert status == 200
    assert issuer.fetches > fetches
    before = issuer.fetches
    for _ in range(5):  # known keys come from the cache
        assert (await _post(http, gateway, token)).status_code == 200
    assert issuer.fetches == before


def test_oauth_options_are_checked(tmp_path: Path) -> None:
    from kubemcp.gateway.settings import GatewaySettings

    catalog = write_catalog(tmp_path / "c.yaml", {"probe": probe_entry()})
    base: dict[str, object] = {"catalogs": [catalog], "oauth_issuer": "https://id.test"}
    with pytest.raises(ValueError, match="needs --oauth-jwks-url and --oauth-audience"):
        GatewaySettings.model_validate(base)
    with pytest.raises(ValueError, match="https URL"):
        GatewaySettings.model_validate({**base, "oauth_jwks_url": "http://id.test/jwks", "oauth_audience": AUDIENCE})
    with pytest.raises(ValueError, match="need --oauth-issuer"):
        GatewaySettings.model_validate({"catalogs": [catalog], "oauth_scopes": ["a"]})
