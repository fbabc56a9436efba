"""`gateway.yaml`: the gateway's options (an MCPGateway's `spec.options`, or a file of your own)."""

from __future__ import annotations

from pathlib import Path

from kubemcp.files._located import parse_yaml, validate
from kubemcp.model.gateway_options import GatewayOptions


def load_gateway_options(path: Path) -> GatewayOptions:
    """Raises `FileFormatError(s)` naming the file, line and field of a bad option."""
    return validate(parse_yaml(path), GatewayOptions, empty={})
