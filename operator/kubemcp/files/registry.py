"""`registry.yaml`: which catalog servers are enabled (`registry: {name: {ref: ""}}`)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from kubemcp.atomic import write_text
from kubemcp.files._located import parse_yaml, validate


class RegistryItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str = ""


class RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    registry: dict[str, RegistryItem] = Field(default_factory=dict)

    @property
    def enabled(self) -> list[str]:
        return list(self.registry)


def load_registry(path: Path) -> RegistryFile:
    document = parse_yaml(path)
    return validate(document, RegistryFile, empty={})


def save_registry(path: Path, registry: RegistryFile) -> None:
    """Write atomically, so a reader (the gateway's file watcher) never sees half a file."""
    data = {"registry": {name: item.model_dump() for name, item in sorted(registry.registry.items())}}
    write_text(path, yaml.safe_dump(data, sort_keys=False))
