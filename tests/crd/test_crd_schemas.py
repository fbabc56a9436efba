"""The CRD manifests in crds/: their shape, their agreement with the spec models, and the examples."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from crd.schemas import CRDS, MODELS, crds, example_objects, root_schema, validate_with_crd
from kubemcp.crd.models import API_VERSION, MCPCatalogSpec

SHORT_NAMES = {"MCPCatalog": {"mcpcat"}, "MCPServer": {"mcps", "mcpsrv"}, "MCPGateway": {"mcpgw"}}


def test_one_file_per_crd_with_the_expected_names() -> None:
    found = crds()
    assert set(found) == set(MODELS)
    assert len(list(CRDS.glob("*.yaml"))) == 3
    for kind, crd in found.items():
        spec = crd["spec"]
        assert crd["metadata"]["name"] == f"{spec['names']['plural']}.kubemcp.dev"
        assert spec["group"] == "kubemcp.dev"
        assert spec["scope"] == "Namespaced"
        assert set(spec["names"]["shortNames"]) == SHORT_NAMES[kind]
        assert "kubemcp" in spec["names"]["categories"]
        [version] = spec["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
        assert "status" in version["subresources"]
        columns = {column["name"] for column in version["additionalPrinterColumns"]}
        assert {"Ready", "Age"} <= columns


def _structural(schema: dict[str, Any], where: str) -> None:
    """Every node says its type (or is int-or-string, or keeps unknown fields)."""
    if not (schema.get("x-kubernetes-int-or-string") or schema.get("x-kubernetes-preserve-unknown-fields")):
        assert "type" in schema, f"{where} has no type"
    for name, child in (schema.get("properties") or {}).items():
        _structural(child, f"{where}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        _structural(schema["additionalProperties"], f"{where}[*]")
    if "items" in schema:
        _structural(schema["items"], f"{where}[]")


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_schemas_are_structural_with_status_conditions(kind: str) -> None:
    schema = root_schema(kind)
    _structural(schema, kind)
    status = schema["properties"]["status"]["properties"]
    assert {"conditions", "observedGeneration"} <= set(status)
    condition = status["conditions"]["items"]
    assert set(condition["required"]) == {"type", "status", "reason", "message", "lastTransitionTime"}
    assert "observedGeneration" in condition["properties"]
    assert status["conditions"]["x-kubernetes-list-map-keys"] == ["type"]


def test_server_inline_entry_is_the_catalog_entry() -> None:
    catalog_entry = root_schema("MCPCatalog")["properties"]["spec"]["properties"]["entries"]["additionalProperties"]
    inline = dict(root_schema("MCPServer")["properties"]["spec"]["properties"]["inline"])
    inline.pop("description")
    assert inline == {key: value for key, value in catalog_entry.items() if key != "description"}


def test_server_status_and_rules() -> None:
    schema = root_schema("MCPServer")
    spec = schema["properties"]["spec"]
    assert [rule["rule"] for rule in spec["x-kubernetes-validations"]] == ["has(self.catalogRef) != has(self.inline)"]
    status = schema["properties"]["status"]["properties"]
    assert set(status["discovery"]["properties"]) == {
        "digest",
        "discoveredAt",
        "tools",
        "prompts",
        "resources",
        "resourceTemplates",
    }
    assert status["discovery"]["properties"]["tools"]["items"]["x-kubernetes-preserve-unknown-fields"] is True
    assert set(status["resolved"]["properties"]) >= {"image", "digest"}
    assert set(status["warmPool"]["properties"]) == {"desired", "ready"}
    assert spec["properties"]["warmPool"]["maximum"] == 20
    assert spec["properties"]["secretName"]["default"] == "kubemcp-secrets"


# -- models and schemas name the same fields ---------------------------------------------------


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Follow $ref and unwrap `X | None` (anyOf with null) in a pydantic JSON schema."""
    while True:
        if "$ref" in schema:
            schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
            continue
        options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
        if "anyOf" in schema and len(options) == 1:
            schema = options[0]
            continue
        return schema


def _compare(crd: dict[str, Any], model: dict[str, Any], defs: dict[str, Any], where: str) -> list[str]:
    model = _resolve(model, defs)
    if crd.get("x-kubernetes-preserve-unknown-fields"):
        return []
    problems = []
    if "properties" in crd:
        crd_fields, model_fields = set(crd["properties"]), set(model.get("properties") or {})
        if crd_fields != model_fields:
            problems.append(
                f"{where}: only in CRD {crd_fields - model_fields}, only in model {model_fields - crd_fields}"
            )
        for name in crd_fields & model_fields:
            problems += _compare(crd["properties"][name], model["properties"][name], defs, f"{where}.{name}")
    if isinstance(crd.get("additionalProperties"), dict) and isinstance(model.get("additionalProperties"), dict):
        problems += _compare(crd["additionalProperties"], model["additionalProperties"], defs, f"{where}[*]")
    if "items" in crd and "items" in model:
        problems += _compare(crd["items"], model["items"], defs, f"{where}[]")
    return problems


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_models_and_crd_schemas_name_the_same_fields(kind: str) -> None:
    model_schema = MODELS[kind].model_json_schema(by_alias=True)
    crd_spec = root_schema(kind)["properties"]["spec"]
    assert _compare(crd_spec, model_schema, model_schema.get("$defs", {}), kind) == []


# -- the examples are valid resources ----------------------------------------------------------


def test_example_manifests_validate_against_crds_and_models() -> None:
    objects = example_objects()
    assert {obj["kind"] for obj in objects} == set(MODELS)
    for obj in objects:
        assert obj["apiVersion"] == API_VERSION
        validate_with_crd(obj)
        MODELS[obj["kind"]].model_validate(obj["spec"])


def test_the_crd_schema_rejects_what_the_models_reject() -> None:
    server = {"apiVersion": API_VERSION, "kind": "MCPServer", "metadata": {"name": "x"}, "spec": {"warmPool": 21}}
    with pytest.raises(jsonschema.ValidationError):
        validate_with_crd(server)
    bad_env = {
        "apiVersion": API_VERSION,
        "kind": "MCPCatalog",
        "metadata": {"name": "c"},
        "spec": {"entries": {"a": {"image": "x", "env": [{"name": "1BAD"}]}}},
    }
    with pytest.raises(jsonschema.ValidationError):
        validate_with_crd(bad_env)
    with pytest.raises(ValueError, match="1BAD"):
        MCPCatalogSpec.model_validate(bad_env["spec"]).entries["a"].to_catalog_entry()
