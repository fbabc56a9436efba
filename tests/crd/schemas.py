"""The CRD manifests and example manifests, loaded for the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kubemcp.crd.gateway_models import MCPGatewaySpec
from kubemcp.crd.models import MCPCatalogSpec, MCPServerSpec
from pydantic import BaseModel

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
EXAMPLES = REPO / "examples" / "kubernetes"
MODELS: dict[str, type[BaseModel]] = {
    "MCPCatalog": MCPCatalogSpec,
    "MCPServer": MCPServerSpec,
    "MCPGateway": MCPGatewaySpec,
}


def crds() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        found[crd["spec"]["names"]["kind"]] = crd
    return found


def root_schema(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = crds()[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def example_objects() -> list[dict[str, Any]]:
    """The kubemcp resources among the example manifests."""
    docs = [doc for path in sorted(EXAMPLES.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return [doc for doc in docs if doc["apiVersion"].startswith("kubemcp.dev/")]


def validate_with_crd(obj: dict[str, Any]) -> None:
    jsonschema.validate(obj, root_schema(obj["kind"]))
