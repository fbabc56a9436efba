"""Which sign-in forms count as posted from the gateway's own page, and when the cookie is `Secure`."""

from __future__ import annotations

import pytest
from kubemcp.gateway.ui_login import is_tls, is_ui_path, same_origin
from starlette.datastructures import Headers


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"host": "127.0.0.1:8811", "origin": "http://127.0.0.1:8811"}, True),
        ({"host": "gw.example.com", "origin": "https://gw.example.com"}, True),
        ({"host": "gw.example.com:443", "origin": "https://gw.example.com"}, True),  # the default port
        ({"host": "GW.example.com", "origin": "https://gw.example.COM"}, True),
        ({"host": "127.0.0.1:8811"}, False),  # neither Origin nor Sec-Fetch-Site
        ({"host": "127.0.0.1:8811", "sec-fetch-site": "same-origin"}, True),
        ({"host": "127.0.0.1:8811", "sec-fetch-site": "same-site"}, False),
        ({"host": "127.0.0.1:8811", "origin": "http://127.0.0.1:8812"}, False),
        ({"host": "gw.example.com:80", "origin": "https://gw.example.com"}, False),
        ({"host": "gw.example.com", "origin": "https://evil.example.com"}, False),
        ({"host": "gw.example.com", "origin": "null", "sec-fetch-site": "same-origin"}, False),  # opaque
        ({"host": "gw.example.com", "origin": "file://gw.example.com"}, False),
        ({"origin": "https://gw.example.com"}, False),  # no Host to compare with
    ],
)
def test_same_origin(headers: dict[str, str], expected: bool) -> None:
    assert same_origin(Headers(headers)) is expected


def test_the_cookie_is_secure_over_tls_or_behind_a_proxy_that_terminates_it() -> None:
    assert is_tls({"scheme": "https"}, Headers({}))
    assert is_tls({"scheme": "http"}, Headers({"x-forwarded-proto": "https, http"}))
    assert not is_tls({"scheme": "http"}, Headers({"x-forwarded-proto": "http"}))
    assert not is_tls({"scheme": "http"}, Headers({}))


def test_ui_paths() -> None:
    assert all(is_ui_path(path) for path in ("/ui", "/ui/state", "/ui/login"))
    assert not any(is_ui_path(path) for path in ("/uix", "/mcp", "/", "/metrics"))
