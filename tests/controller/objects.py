"""MCPCatalog, MCPServer and MCPGateway objects for the controller tests (as the API server returns them)."""

from __future__ import annotations

import copy
from typing import Any

from kubemcp.crd.models import API_VERSION

Obj = dict[str, Any]

DICE: Obj = {
    "description": "Roll dice",
    "image": "kubemcp/example-dice:latest",
    "command": ["python3", "/app/server.py"],
    "tools": [{"name": "roll", "description": "Roll", "inputSchema": {"type": "object", "properties": {}}}],
    "resources": {"limits": {"memory": "128Mi", "cpu": "0.5"}},
}
NOTES: Obj = {
    "description": "Notes",
    "image": "kubemcp/example-notes:latest",
    "command": ["python3", "/app/server.py"],
    "env": [{"name": "NOTES_DB", "value": "{{notes.db_path}}"}],
    "secrets": [{"name": "notes.token", "env": "NOTES_TOKEN"}],
    "config": [
        {"name": "notes", "type": "object", "properties": {"db_path": {"type": "string"}}, "required": ["db_path"]}
    ],
}


def resource(kind: str, name: str, spec: Obj, *, namespace: str = "team", **metadata: Any) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{kind.lower()}-{name}",
            "generation": 1,
            "resourceVersion": "1",
            **metadata,
        },
        "spec": copy.deepcopy(spec),
    }


def catalog(name: str = "examples", entries: Obj | None = None, **metadata: Any) -> Obj:
    return resource(
        "MCPCatalog", name, {"entries": entries if entries is not None else {"dice": DICE, "notes": NOTES}}, **metadata
    )


def server(name: str = "dice", **spec: Any) -> Obj:
    labels = spec.pop("labels", None)
    body = {"catalogRef": {"name": "examples"}, "secretName": "kubemcp-secrets", "deadlineSeconds": 600, **spec}
    extra = {"labels": labels} if labels else {}
    return resource("MCPServer", name, body, **extra)


def gateway(name: str = "mcp", **spec: Any) -> Obj:
    return resource("MCPGateway", name, {"transport": "streaming", "port": 8811, "replicas": 1, **spec})
