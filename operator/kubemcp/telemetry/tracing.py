"""OpenTelemetry traces: set up only when an OTLP endpoint is configured, no-op otherwise.

The gateway opens a span per client request, parented on the W3C trace context in the request's
`_meta` (`traceparent`/`tracestate`), with child spans for the instance start, the Pod attach, the
MCP handshake and the backend call. The MCP SDK's client injects the current context into each
backend request's `_meta`, so a traced server continues the same trace.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

logger = logging.getLogger(__name__)

TRACER = "kubemcp"
TRACES_PATH = "/v1/traces"


class Tracing:
    """The SDK's tracer provider while tracing is on; `shutdown` sends what is buffered."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    def shutdown(self) -> None:
        self.provider.shutdown()


def otlp_endpoint(configured: str | None) -> str | None:
    """The traces URL: `--otlp-endpoint` (a base URL), else the standard OTLP environment variables."""
    if configured:
        return configured.rstrip("/") + TRACES_PATH
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return base.rstrip("/") + TRACES_PATH if base else None


def setup_tracing(
    configured: str | None, service_name: str, attributes: Mapping[str, str] | None = None
) -> Tracing | None:
    """Export spans over OTLP/HTTP (protobuf) when an endpoint is configured; None (no-op spans) otherwise."""
    endpoint = otlp_endpoint(configured)
    if endpoint is None:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name, **(attributes or {})}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    logger.info("tracing: spans go to %s", endpoint)
    return Tracing(provider)


def parent_from_meta(meta: Mapping[str, Any] | None) -> Context | None:
    """The caller's trace context from a request's `_meta`; None when it carries no valid `traceparent`."""
    if not meta:
        return None
    carrier = {key: value for key, value in meta.items() if isinstance(value, str)}
    try:
        context = propagate.extract(carrier)
    except (ValueError, TypeError):
        return None
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


@contextmanager
def span(
    name: str,
    attributes: Mapping[str, str | int | float | bool] | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Context | None = None,
) -> Iterator[Span]:
    """A span that is current inside the block; an exception marks it failed."""
    tracer = trace.get_tracer(TRACER)
    with tracer.start_as_current_span(name, context=parent, kind=kind, attributes=dict(attributes or {})) as current:
        yield current


def failed(current: Span, message: str) -> None:
    current.set_status(Status(StatusCode.ERROR, message))
