"""Remote entries: header values from secrets and config, OAuth tokens refreshed ahead of expiry."""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path

import pytest
from controller.fakekube import FakeKube
from kubemcp.errors import ServerUnavailableError
from kubemcp.model.entry import CatalogEntry, CatalogSource
from kubemcp.model.spec import ServerSpec, build_spec
from kubemcp.runtimes.kubernetes_pods import KubernetesRuntime
from kubemcp.runtimes.local_process import LocalProcessRuntime
from kubemcp.runtimes.remote import remote_headers, uses_sse
from kubemcp.runtimes.remote_oauth import OAuthTokens, refresh_margin
from kubemcp.runtimes.routing import WithRemote, is_remote, kube_remote, local_remote
from mcp.shared.auth import OAuthToken

pytestmark = pytest.mark.anyio
SOURCE = CatalogSource(path="c.yaml", line=1, directory=".")


def remote_spec(headers: dict[str, str], transport: str = "streamable-http") -> ServerSpec:
    entry = CatalogEntry.model_validate(
        {
            "type": "remote",
            "remote": {"url": "https://example.com/mcp", "transport_type": transport, "headers": headers},
            "secrets": [{"name": "example.token", "env": "EXAMPLE_TOKEN"}],
        }
    )
    return build_spec("example", entry, SOURCE, {"tenant": "acme"}, {"example.token": "tok"})


def test_header_values_expand_secrets_by_variable_and_config_by_key() -> None:
    spec = remote_spec(
        {"Authorization": "Bearer ${EXAMPLE_TOKEN}", "X-Token": "$EXAMPLE_TOKEN", "X-Tenant": "{{example.tenant}}"}
    )
    assert remote_headers(spec, {"EXAMPLE_TOKEN": "tok"}) == {
        "Authorization": "Bearer tok",
        "X-Token": "tok",
        "X-Tenant": "acme",
    }


def test_a_header_variable_that_names_no_secret_is_an_error_naming_it() -> None:
    spec = remote_spec({"Authorization": "Bearer ${OTHER}"})
    with pytest.raises(ServerUnavailableError, match=r"header variable \$OTHER is none of the entry's secrets"):
        remote_headers(spec, {"EXAMPLE_TOKEN": "tok"})


def test_transport_and_kind_of_entry() -> None:
    assert uses_sse(remote_spec({}, "sse"))
    assert not uses_sse(remote_spec({}, "http"))
    assert is_remote(CatalogEntry.model_validate({"type": "remote", "remote": {"url": "https://x/mcp"}}))
    assert not is_remote(CatalogEntry.model_validate({"image": "x/y"}))


class MemorySlot:
    def __init__(self, value: str | None = None) -> None:
        self.value = value

    async def read(self) -> str | None:
        return self.value

    async def write(self, value: str) -> None:
        self.value = value


async def test_tokens_are_stored_with_their_expiry_and_read_back() -> None:
    slot = MemorySlot()
    tokens = OAuthTokens("example", "https://example.com/mcp", slot)
    assert await tokens.auth() is None  # nothing stored: no OAuth
    await tokens.set_tokens(OAuthToken(access_token="a", expires_in=100, refresh_token="r"))
    assert slot.value is not None
    record = json.loads(slot.value)
    assert record["tokens"]["access_token"] == "a"
    assert 99 <= record["expires_at"] - time.time() <= 100
    again = OAuthTokens("example", "https://example.com/mcp", slot)
    assert (await again.get_tokens()) == OAuthToken(access_token="a", expires_in=100, refresh_token="r")
    assert await again.auth() is not None


async def test_a_token_counts_as_expired_within_its_refresh_margin() -> None:
    """A stored token with 30 s left of a 100 s lifetime is refreshed now (margin: half of 100, at most 60)."""
    assert refresh_margin(100) == 50
    assert refresh_margin(3600) == 60
    record = {"tokens": {"access_token": "a", "expires_in": 100, "refresh_token": "r"}, "expires_at": time.time() + 30}
    tokens = OAuthTokens("example", "https://example.com/mcp", MemorySlot(json.dumps(record)))
    provider = await tokens.auth()
    assert provider is not None
    await provider._initialize()  # type: ignore[attr-defined]
    assert not provider.context.is_token_valid()  # type: ignore[attr-defined]
    assert provider.context.can_refresh_token() is False  # type: ignore[attr-defined]  # no client registered yet


def test_the_cluster_runtime_keeps_its_client_and_namespace_for_the_replicas() -> None:
    """The gateway's replicas find their peers with the runtime's cluster client and namespace."""
    kube = FakeKube()
    runtime = WithRemote(KubernetesRuntime(kube, "team-a"), kube_remote(kube, "team-a"))
    assert (runtime.kube, runtime.namespace) == (kube, "team-a")
    local = WithRemote(LocalProcessRuntime(), local_remote(Path("secrets.env")))
    assert (local.kube, local.namespace) == (None, None)


def test_every_remote_connection_shares_one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a TLS context loads the whole CA bundle: made once, not once per connection (discovery of
    hundreds of remote servers spent a sixth of the operator's CPU on it)."""
    import httpcore2
    from kubemcp.runtimes import remote

    made: list[object] = []
    building = httpcore2.default_ssl_context

    def counted(**options: bool) -> ssl.SSLContext:
        context = building(**options)
        made.append(context)
        return context

    monkeypatch.setattr(httpcore2, "default_ssl_context", counted)
    monkeypatch.setattr(remote, "_TLS", {})
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    for _ in range(3):
        remote.remote_http_client(headers={"X": "y"})
    assert len(made) == 1
    assert remote.tls_context() is made[0]
    monkeypatch.setenv("SSL_CERT_DIR", "/nonexistent")  # the trust settings changed: a context that follows them
    assert remote.tls_context() is not made[0]
