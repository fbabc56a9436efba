"""Spec model of MCPGateway (the schema of its CRD, see `kubemcp.crd.models` for the shared rules):
which servers it serves, how it runs, who may reach it and how callers authenticate."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from kubemcp.crd.models import DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, LabelSelector, PullPolicy, ResourcesSpec, _Spec
from kubemcp.files.authz_policy import AuthzPolicy
from kubemcp.model import fields as f
from kubemcp.model.gateway_options import GatewayOptions


class ConfigMapKey(_Spec):
    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
    key: str = Field(min_length=1, max_length=253)


class OAuthSpec(_Spec):
    """Clients may authenticate with OAuth 2.1 access tokens (JWTs) of this issuer."""

    issuer: str = Field(min_length=1, max_length=2048)
    audience: str = Field(
        min_length=1, max_length=2048, description="The gateway's resource URL the tokens must be issued for."
    )
    jwks_url: str | None = Field(
        default=None, alias="jwksUrl", max_length=2048, description="Where the issuer's signing keys are (https)."
    )
    jwks_config_map: ConfigMapKey | None = Field(
        default=None, alias="jwksConfigMap", description="The issuer's signing keys (a JWKS), kept in a ConfigMap."
    )
    scopes: list[str] = Field(default_factory=list, max_length=32, description="Scopes every token must carry.")
    groups_claim: str | None = Field(default=None, alias="groupsClaim", max_length=256)

    @model_validator(mode="after")
    def _keys(self) -> OAuthSpec:
        if (self.jwks_url is None) == (self.jwks_config_map is None):
            raise ValueError("set exactly one of jwksUrl or jwksConfigMap")
        return self


class AuthSpec(_Spec):
    """Who may call the gateway. By default a bearer token of the Secret `<gateway>-kubemcp-tokens`
    (made by the operator with one random `default` token; each key names a principal)."""

    tokens_secret: str | None = Field(
        default=None,
        alias="tokensSecret",
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Your own Secret of tokens (key: principal name, value: token) instead of the generated one.",
    )
    oauth: OAuthSpec | None = None
    allow_unauthenticated: bool = Field(
        default=False,
        alias="allowUnauthenticated",
        description="Serve anyone who can reach the gateway, without a token.",
    )


class IPBlockSpec(_Spec):
    cidr: str = Field(min_length=1, max_length=64)
    except_: list[str] | None = Field(default=None, alias="except", max_length=32)


class PeerSpec(_Spec):
    """Who may connect, as in a NetworkPolicy rule: namespaces and Pods by label, or addresses."""

    namespace_selector: LabelSelector | None = Field(
        default=None, alias="namespaceSelector", description="Namespaces by their labels ({} : every namespace)."
    )
    pod_selector: LabelSelector | None = Field(
        default=None,
        alias="podSelector",
        description="Pods by their labels (in the gateway's namespace, or those selected).",
    )
    ip_block: IPBlockSpec | None = Field(default=None, alias="ipBlock", description="Addresses (a CIDR).")


class MCPGatewaySpec(_Spec):
    server_selector: LabelSelector | None = Field(
        default=None, alias="serverSelector", description="Which MCPServers to serve (all of them when empty)."
    )
    namespaces: list[Annotated[str, Field(max_length=63, pattern=DNS_LABEL_PATTERN)]] | None = Field(
        default=None, max_length=32, description="Namespaces to select MCPServers from (default the MCPGateway's own)."
    )
    transport: Literal["streaming", "sse"] = "streaming"
    port: int = Field(default=f.DEFAULT_PORT, ge=1, le=65535)
    replicas: int = Field(default=1, ge=0, le=10)
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(default="ClusterIP", alias="serviceType")
    node_port: int | None = Field(
        default=None,
        ge=30000,
        le=32767,
        alias="nodePort",
        description="The node port of a NodePort or LoadBalancer Service (default chosen by Kubernetes).",
    )
    image: str | None = Field(
        default=None, max_length=512, description="The kubemcp image (default the operator's --gateway-image)."
    )
    image_pull_policy: PullPolicy | None = Field(default=None, alias="imagePullPolicy")
    resources: ResourcesSpec | None = None
    options: GatewayOptions | None = Field(
        default=None,
        description="The gateway's options: tool filters, audit and call logging, interceptors, limits (applied "
        "without a restart) and metrics and tracing (applied by rolling the replicas).",
    )
    auth: AuthSpec | None = None
    authorization: AuthzPolicy | None = Field(
        default=None, description="Which servers and tools each principal may list and call (default: all)."
    )
    allowed_from: list[PeerSpec] | None = Field(
        default=None,
        alias="allowedFrom",
        max_length=32,
        description="Who may connect to the gateway (a NetworkPolicy; its own replicas always may). "
        "Unset: anyone who can reach its Service (each caller still needs a credential).",
    )
    metrics_allowed_from: list[PeerSpec] | None = Field(
        default=None,
        alias="metricsAllowedFrom",
        max_length=32,
        description="Who may reach options.metrics.port (a Prometheus) when allowedFrom limits who may connect; "
        "unset: nobody.",
    )
    secret_scan: Literal["block", "redact", "off"] = Field(
        default="block",
        alias="secretScan",
        description="What a tool call's arguments or result holding a secret get: blocked, redacted, or nothing.",
    )
