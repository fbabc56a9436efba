"""Signing in to the status page over real HTTP against a real gateway process: the sign-in page, the
cookie's attributes, the cookie honoured on `/ui` paths only, revocation taking effect at once, and
sign-in forms posted from anywhere but the gateway's own page refused. (The browser's side is in
test_status_page.py, OAuth access tokens in test_oauth.py, a limited principal in test_observability.py.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx2
import pytest
from support import (
    ACCEPT,
    GatewayProcess,
    bearer,
    probe_entry,
    ui_cookie,
    ui_sign_in,
    until,
    write_catalog,
    write_tokens,
)

pytestmark = pytest.mark.anyio

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "ui", "version": "1"}},
}
OPS = "ops-token-0000000000000001"
ALICE = "alice-token-00000000000001"


def _attributes(response: httpx2.Response) -> dict[str, str]:
    [cookie] = response.headers.get_list("set-cookie")
    _, *parts = (part.strip() for part in cookie.split(";"))
    return {name.lower(): value for name, _, value in (part.partition("=") for part in parts)}


def _get(gateway: GatewayProcess, path: str, headers: dict[str, str]) -> httpx2.Response:
    return httpx2.get(f"{gateway.base}{path}", headers=headers, timeout=10)


async def test_signing_in_keeps_the_token_in_a_cookie_the_ui_paths_alone_accept(
    tmp_path: Path, gateway_process: Any
) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry()})
    tokens = write_tokens(tmp_path / "tokens.env", ops=OPS, alice=ALICE)
    gateway: GatewayProcess = gateway_process("--catalog", str(catalog), "--tokens-file", str(tokens))

    page = _get(gateway, "/ui", {})
    assert page.status_code == 401  # a client that is not a browser sees what it saw before
    assert page.headers["www-authenticate"] == 'Bearer realm="kubemcp"'
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert re.search(r'<input type="password" id="token" name="token"', page.text)
    assert 'action="/ui/login"' in page.text
    policy = page.headers["content-security-policy"]
    for directive in ("default-src 'none'", "form-action 'self'", "style-src 'nonce-", "frame-ancestors 'none'"):
        assert directive in policy
    assert not re.search(r"https?://", page.text)  # nothing from anywhere else
    state = _get(gateway, "/ui/state", {})
    assert (state.status_code, state.json()["error"]) == (401, "unauthorized")  # still JSON for its script
    assert _get(gateway, "/ui", bearer(OPS)).status_code == 200  # a bearer header works as before
    assert _get(gateway, "/ui", bearer("wrong-token-000000000000001")).headers["content-type"] == "application/json"

    wrong = ui_sign_in(gateway.base, "wrong-token-000000000000001")
    assert wrong.status_code == 401
    assert "set-cookie" not in wrong.headers
    assert "Sign-in failed: the token is not valid." in wrong.text
    assert await until(lambda: "refused sign-in to the status page from 127.0.0.1" in gateway.log)
    assert "wrong-token-000000000000001" not in gateway.log
    assert ui_sign_in(gateway.base, "not a token at all").status_code == 401

    signed_in = ui_sign_in(gateway.base, f"  Bearer {OPS}\n")  # pasted with its scheme and blanks
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/ui"
    assert _attributes(signed_in) == {"max-age": "28800", "path": "/ui", "httponly": "", "samesite": "Strict"}
    cookie = ui_cookie(signed_in)
    assert cookie == {"Cookie": f"kubemcp_ui={OPS}"}
    assert "token:ops signed in to the status page" in gateway.log
    behind_tls = ui_sign_in(gateway.base, OPS, **{"X-Forwarded-Proto": "https"})
    assert "secure" in _attributes(behind_tls)

    status_page = _get(gateway, "/ui", cookie)
    assert status_page.status_code == 200
    assert 'id="servers"' in status_page.text
    assert _get(gateway, "/ui/state", cookie).json()["principal"] == "token:ops"
    # Everywhere else the cookie is no credential: a page of another site cannot call tools with it.
    initialize = httpx2.post(gateway.url, json=INITIALIZE, headers={**ACCEPT, **cookie}, timeout=10)
    assert initialize.status_code == 401
    for path in ("/metrics", "/sse", "/message/"):
        assert _get(gateway, path, cookie).status_code == 401, path
    assert "version" not in _get(gateway, "/health", cookie).json()  # /health tells more to a caller with a token

    signed_out = httpx2.post(f"{gateway.base}/ui/logout", headers={"Origin": gateway.base, **cookie}, timeout=10)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/ui"
    assert _attributes(signed_out)["max-age"] == "0"
    assert ui_cookie(signed_out) == {"Cookie": "kubemcp_ui="}

    # Removing the token from the tokens file ends its sign-ins at once (every request checks it again).
    write_tokens(tokens, alice=ALICE)
    assert await until(lambda: _get(gateway, "/ui/state", cookie).status_code == 401)
    expired = _get(gateway, "/ui", cookie)
    assert expired.status_code == 401
    assert "Your sign-in is no longer valid (the token is not valid): sign in again." in expired.text
    assert _attributes(expired)["max-age"] == "0"
    assert OPS not in gateway.log


async def test_sign_in_forms_from_anywhere_but_the_gateways_own_page_are_refused(
    tmp_path: Path, gateway_process: Any
) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry()})
    gateway: GatewayProcess = gateway_process("--catalog", str(catalog))
    port = gateway.base.rsplit(":", 1)[1]
    refused = {
        "another port of this host": {"Origin": f"http://127.0.0.1:{int(port) + 1}"},
        "another loopback name": {"Origin": f"http://localhost:{port}"},
        "no origin": {"Origin": ""},
        "no origin, cross-site": {"Origin": "", "Sec-Fetch-Site": "cross-site"},
    }
    for why, headers in refused.items():
        sent = {name: value for name, value in headers.items() if value}
        response = httpx2.post(f"{gateway.base}/ui/login", data={"token": gateway.token}, headers=sent, timeout=10)
        assert response.status_code == 403, why
        assert "set-cookie" not in response.headers, why
        assert "own page" in response.json()["error"]["message"], why
        logout = httpx2.post(f"{gateway.base}/ui/logout", headers=sent, timeout=10)
        assert logout.status_code == 403, why
    # The Host/Origin guard still comes first: an origin it does not allow never reaches the form.
    for origin in ("https://evil.example", "null"):
        foreign = ui_sign_in(gateway.base, gateway.token, Origin=origin)
        assert (foreign.status_code, foreign.json()["error"]["message"]) == (403, "Origin not allowed"), origin
    # A browser that sends no Origin says where the form came from in Sec-Fetch-Site.
    same_origin = httpx2.post(
        f"{gateway.base}/ui/login",
        data={"token": gateway.token},
        headers={"Sec-Fetch-Site": "same-origin"},
        timeout=10,
    )
    assert same_origin.status_code == 303
    not_a_form = httpx2.post(
        f"{gateway.base}/ui/login", json={"token": gateway.token}, headers={"Origin": gateway.base}, timeout=10
    )
    assert not_a_form.status_code == 415
    too_large = ui_sign_in(gateway.base, "x" * 20_000)
    assert too_large.status_code == 413
    too_long = ui_sign_in(gateway.base, "x" * 5_000)  # a browser keeps no cookie that large
    assert too_long.status_code == 400
    assert "too long to keep in a browser cookie" in too_long.text
