"""The gateway's options as one structure: an MCPGateway's `spec.options`, and the `gateway.yaml` file
the gateway follows (the operator renders one from the other into the gateway's ConfigMap).

Grouped by concern so new groups (authentication) are added beside the others. An unset field
leaves the gateway's own setting (its command line) as it is. What a reload applies without a
restart: `tools`, `prefixTools`, `audit`, `logCalls`, `interceptors` and `limits`; `metrics` and
`tracing` are read at start (the operator passes them as arguments, so a change rolls the Pods).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

INTERCEPTOR_TIMEOUT_SECONDS = 10.0


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class InterceptorOption(_Options):
    """A hook around `tools/call`: a command reading the call as JSON on stdin, or a webhook."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        frozen=True,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.type != 'http' || self.target.matches('^https?://')",
                    "message": "an http interceptor's target must be an http:// or https:// URL",
                }
            ]
        },
    )

    when: Literal["before", "after"] = Field(description="before the call (arguments) or after it (result).")
    type: Literal["exec", "http"] = Field(description="exec: run a command; http: POST to a URL.")
    target: str = Field(
        min_length=1,
        max_length=2048,
        description="The command line (run by /bin/sh -c) or the http(s) URL.",
    )
    timeout_seconds: float = Field(
        default=INTERCEPTOR_TIMEOUT_SECONDS,
        ge=0.1,
        le=300,
        alias="timeoutSeconds",
        description="A hook that takes longer fails the call.",
    )

    @model_validator(mode="after")
    def _url(self) -> InterceptorOption:
        if self.type == "http" and not self.target.startswith(("http://", "https://")):
            raise ValueError("an http interceptor's target must be an http:// or https:// URL")
        return self

    @classmethod
    def parse(cls, text: str) -> InterceptorOption:
        """`when:type:target` as on the command line (Docker's `--interceptor` syntax)."""
        parts = text.split(":", 2)
        if len(parts) != 3 or not parts[2]:
            raise ValueError(f"interceptor {text!r}: expected WHEN:TYPE:TARGET, e.g. before:exec:/path/to/cmd")
        when, kind, target = parts[0].lower(), parts[1].lower(), parts[2]
        if when not in ("before", "after"):
            raise ValueError(f"interceptor {text!r}: WHEN is 'before' or 'after', not {when!r}")
        if kind not in ("exec", "http"):
            raise ValueError(f"interceptor {text!r}: TYPE is 'exec' or 'http', not {kind!r}")
        return cls.model_validate({"when": when, "type": kind, "target": target})

    @property
    def label(self) -> str:
        """How logs and errors name it: the command's first word or the URL's origin, never its query."""
        if self.type == "http":
            head = self.target.split("?", 1)[0]
            return f"{self.when}:http:{head}"
        return f"{self.when}:exec:{self.target.split()[0]}"


class AuditOptions(_Options):
    enabled: bool | None = Field(default=None, description="One JSON record per tool call (default on).")
    file: str | None = Field(
        default=None, max_length=1024, description="Also append the records to this file (created 0600)."
    )


class LimitsOptions(_Options):
    call_timeout_seconds: float | None = Field(
        default=None, ge=0.1, le=86_400, alias="callTimeoutSeconds", description="Seconds a backend request may take."
    )
    idle_timeout_seconds: float | None = Field(
        default=None,
        ge=1,
        le=86_400,
        alias="idleTimeoutSeconds",
        description="Seconds without calls before a long-lived instance stops.",
    )


class MetricsOptions(_Options):
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="A second port serving only /metrics, outside the gateway's authentication (for a "
        "Prometheus without credentials). /metrics on the main port is always there, behind it.",
    )


class TracingOptions(_Options):
    otlp_endpoint: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^https?://",
        alias="otlpEndpoint",
        description="OTLP/HTTP base URL spans are sent to (e.g. http://otel-collector:4318).",
    )


ToolPattern = Annotated[str, Field(min_length=1, max_length=320)]


class GatewayOptions(_Options):
    """What the gateway does beyond which servers it serves."""

    tools: list[ToolPattern] | None = Field(
        default=None,
        max_length=1024,
        description="Serve only these tools: a public name, server:tool or server:*.",
    )
    prefix_tools: bool | None = Field(default=None, alias="prefixTools", description="Serve tools as server__tool.")
    log_calls: bool | None = Field(default=None, alias="logCalls", description="A log line per call.")
    audit: AuditOptions | None = None
    interceptors: list[InterceptorOption] | None = Field(
        default=None, max_length=16, description="Hooks before and after tools/call, in order."
    )
    limits: LimitsOptions | None = None
    metrics: MetricsOptions | None = None
    tracing: TracingOptions | None = None
