"""pydantic models -> structural OpenAPI v3 schemas, as a CustomResourceDefinition wants them.

What pydantic writes and what a CRD accepts differ: `$ref`s are inlined, `X | None` becomes `X`
(an absent field), `Literal`s become string enums, `dict[str, Any]` keeps unknown fields, titles
and `additionalProperties: false` go (a structural schema prunes unknown fields anyway), and
defaults are kept only for scalars. `x-kubernetes-*` markers given in `json_schema_extra` pass
through unchanged.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

Schema = dict[str, Any]
_KEPT = (
    "description",
    "enum",
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "maxProperties",
)


def openapi_schema(model: type[BaseModel]) -> Schema:
    """The structural schema of `model` (field names by alias, as the API sees them)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _convert(raw, raw.get("$defs", {}))


def _convert(node: Schema, defs: dict[str, Schema]) -> Schema:
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        return _convert({**target, **node}, defs)
    if "anyOf" in node:
        options = [option for option in node.pop("anyOf") if option.get("type") != "null"]
        if len(options) == 1:
            return _convert({**node, **options[0], **_markers(node)}, defs)
        types = {option.get("type") for option in options}
        if types <= {"string", "integer", "number"}:
            return {"x-kubernetes-int-or-string": True, **_markers(node)}
        raise ValueError(f"cannot express a union of {sorted(map(str, types))} in a CRD schema")
    if "const" in node:
        node.setdefault("enum", [node.pop("const")])
    if node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-int-or-string"):
        return {key: value for key, value in node.items() if key not in ("title", "default")}
    kind = node.get("type")
    out: Schema = {}
    if kind is None and "enum" in node:
        kind = "string"
    if kind is None:
        return {"x-kubernetes-preserve-unknown-fields": True, **_markers(node)}
    out["type"] = kind
    for key in _KEPT:
        if key in node:
            out[key] = node[key]
    default = node.get("default")
    if isinstance(default, str | int | float | bool) and default != "":
        out["default"] = default
    if kind == "object":
        properties = node.get("properties") or {}
        additional = node.get("additionalProperties")
        patterned = list((node.get("patternProperties") or {}).values())
        if len(patterned) == 1:  # keys constrained by a pattern: a CEL rule on the field checks them
            additional = patterned[0]
        if properties:
            out["properties"] = {name: _convert(child, defs) for name, child in properties.items()}
            required = [name for name in node.get("required") or [] if "default" not in properties[name]]
            if required:
                out["required"] = required
        elif isinstance(additional, dict) and additional:
            out["additionalProperties"] = _convert(additional, defs)
        elif not properties:
            out["x-kubernetes-preserve-unknown-fields"] = True
    if kind == "array" and "items" in node:
        out["items"] = _convert(node["items"], defs)
    out.update(_markers(node))
    return out


def _markers(node: Schema) -> Schema:
    return {key: value for key, value in node.items() if key.startswith("x-kubernetes-")}
