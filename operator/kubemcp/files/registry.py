"""`registry.yaml`: which catalog servers are enabled (`registry: {name: {ref: ""}}`).

As Docker writes it: an item may be empty (`name:` with no value) and may carry the server's
`config:` values. Those are used when `config.yaml` has no section for the server (config.yaml
wins, as Docker's own commands have it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from kubemcp.atomic import write_text
from kubemcp.files._located import parse_yaml, validate


class RegistryItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str = ""
    config: dict[str, Any] | None = None

    @field_validator("ref", mode="before")
    @classmethod
    def _null_ref(cls, value: Any) -> Any:
        return "" if value is None else value


class RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    registry: dict[str, RegistryItem] = Field(default_factory=dict)

    @field_validator("registry", mode="before")
    @classmethod
    def _empty_items(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):
            return {str(name): {} if item is None else item for name, item in value.items()}
        return value

    @property
    def enabled(self) -> list[str]:
        return list(self.registry)


def load_registry(path: Path) -> RegistryFile:
    document = parse_yaml(path)
    return validate(document, RegistryFile, empty={})


def save_registry(path: Path, registry: RegistryFile) -> None:
    """Write atomically, so a reader (the gateway's file watcher) never sees half a file."""
    data = {"registry": {name: item.model_dump(exclude_none=True) for name, item in sorted(registry.registry.items())}}
    write_text(path, yaml.safe_dump(data, sort_keys=False))
