"""The kubemcp custom resources (API group `kubemcp.dev`, version `v1alpha1`): spec models and helpers.

The models here are the source of truth: `kubemcp.crd.generate` writes the CRD manifests in `crds/`
from them.
"""

from kubemcp.crd.gateway_models import MCPGatewaySpec
from kubemcp.crd.models import (
    API_VERSION,
    GROUP,
    VERSION,
    CatalogRef,
    EntrySpec,
    MCPCatalogSpec,
    MCPServerSpec,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "CatalogRef",
    "EntrySpec",
    "MCPCatalogSpec",
    "MCPGatewaySpec",
    "MCPServerSpec",
]
