"""How an MCPGateway's callers authenticate, as its Deployment sees it: the tokens Secret it reads,
an OAuth issuer's key set mounted from a ConfigMap, and the gateway's arguments for both."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubemcp.crd.gateway_models import MCPGatewaySpec

if TYPE_CHECKING:
    from kubemcp.controller.mcpgateway_objects import Names

Obj = dict[str, Any]
TOKENS_DIR = "/var/run/kubemcp/tokens"
JWKS_DIR = "/etc/kubemcp/oauth"


def tokens_secret_name(names: Names, spec: MCPGatewaySpec) -> str | None:
    """The Secret of tokens the gateway reads (None when it takes callers without one)."""
    auth = spec.auth
    if auth is not None and auth.allow_unauthenticated:
        return None
    if auth is not None and auth.tokens_secret is not None:
        return auth.tokens_secret
    return names.tokens


def auth_args(names: Names, spec: MCPGatewaySpec) -> list[str]:
    auth = spec.auth
    args: list[str] = ["--secret-scan", spec.secret_scan]
    if auth is not None and auth.allow_unauthenticated:
        return [*args, "--allow-unauthenticated"]
    args += ["--tokens-dir", TOKENS_DIR]
    oauth = auth.oauth if auth is not None else None
    if oauth is not None:
        jwks = oauth.jwks_url or f"file://{JWKS_DIR}/{oauth.jwks_config_map.key if oauth.jwks_config_map else ''}"
        args += ["--oauth-issuer", oauth.issuer, "--oauth-audience", oauth.audience, "--oauth-jwks-url", jwks]
        if oauth.scopes:
            args += ["--oauth-scopes", ",".join(oauth.scopes)]
        if oauth.groups_claim:
            args += ["--oauth-groups-claim", oauth.groups_claim]
    return args


def auth_volumes(names: Names, spec: MCPGatewaySpec) -> list[tuple[Obj, str]]:
    """(volume, where it is mounted) for the tokens Secret and an OAuth key set kept in a ConfigMap."""
    found: list[tuple[Obj, str]] = []
    secret = tokens_secret_name(names, spec)
    if secret is not None:
        found.append(({"name": "tokens", "secret": {"secretName": secret, "defaultMode": 0o440}}, TOKENS_DIR))
    oauth = spec.auth.oauth if spec.auth is not None else None
    if oauth is not None and oauth.jwks_config_map is not None:
        source = {"name": oauth.jwks_config_map.name, "defaultMode": 0o444}
        found.append(({"name": "oauth-keys", "configMap": source}, JWKS_DIR))
    return found
