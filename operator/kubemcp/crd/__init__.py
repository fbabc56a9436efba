"""The kubemcp custom resources (API group `kubemcp.dev`, version `v1alpha1`): spec models and helpers.

The CRD manifests in `crds/` are the source of truth; the models here read the same fields.
"""

from kubemcp.crd.models import (
    API_VERSION,
    GROUP,
    VERSION,
    CatalogRef,
    EntrySpec,
    MCPCatalogSpec,
    MCPGatewaySpec,
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
