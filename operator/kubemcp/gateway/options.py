"""The options in force: the command line, overridden field by field by the options file (`gateway.yaml`,
an MCPGateway's `spec.options`), which is read again whenever it changes.

Applied without a restart: tool filters, prefixTools, audit, logCalls, interceptors and limits
(a new call timeout reaches instances started from then on; a new idle timeout, residents started
from then on). Metrics and tracing are read at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from kubemcp.files.gateway_options import load_gateway_options
from kubemcp.gateway.settings import GatewaySettings
from kubemcp.model.gateway_options import GatewayOptions, InterceptorOption

T = TypeVar("T")


@dataclass(frozen=True)
class Effective:
    tools: tuple[str, ...]
    prefix_tools: bool
    log_calls: bool
    audit: bool
    audit_file: Path | None
    interceptors: tuple[InterceptorOption, ...]
    call_timeout: float | None
    idle_timeout: float
    otlp_endpoint: str | None
    metrics_port: int | None

    @property
    def listing_key(self) -> tuple[object, ...]:
        """What changes the served listing."""
        return self.tools, self.prefix_tools


def file_options(settings: GatewaySettings) -> GatewayOptions:
    """The options file's content; an absent file is no options. A bad one raises `FileFormatError(s)`."""
    path = settings.options_file
    if path is None or not path.is_file():
        return GatewayOptions()
    return load_gateway_options(path)


def effective(settings: GatewaySettings) -> Effective:
    options = file_options(settings)
    audit = options.audit
    limits = options.limits
    return Effective(
        tools=tuple(options.tools if options.tools is not None else settings.tools),
        prefix_tools=_first(options.prefix_tools, settings.prefix_tools),
        log_calls=_first(options.log_calls, settings.log_calls),
        audit=_first(audit.enabled if audit else None, settings.audit),
        audit_file=Path(audit.file) if audit and audit.file else settings.audit_file,
        interceptors=tuple(options.interceptors if options.interceptors is not None else settings.interceptors),
        call_timeout=_first(limits.call_timeout_seconds if limits else None, settings.call_timeout),
        idle_timeout=_first(limits.idle_timeout_seconds if limits else None, settings.idle_timeout),
        otlp_endpoint=settings.otlp_endpoint or (options.tracing.otlp_endpoint if options.tracing else None),
        metrics_port=_first(settings.metrics_port, options.metrics.port if options.metrics else None),
    )


def _first(chosen: T | None, fallback: T) -> T:
    return fallback if chosen is None else chosen
