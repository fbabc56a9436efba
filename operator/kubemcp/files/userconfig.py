"""`config.yaml`: per-server configuration values, `{server: {key: value}}`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import RootModel, field_validator

from kubemcp.files._located import parse_yaml, validate


class UserConfig(RootModel[dict[str, dict[str, Any]]]):
    """`{server: {key: value}}`; a server is found under Docker's key (dots written as '_'), the
    name as its catalog writes it, or its kubemcp name. An empty section is an empty mapping."""

    @field_validator("root", mode="before")
    @classmethod
    def _empty_sections(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(key): {} if section is None else section for key, section in value.items()}
        return value

    def section(self, *keys: str) -> dict[str, Any] | None:
        for key in keys:
            if key in self.root:
                return self.root[key]
        return None

    def for_server(self, name: str) -> dict[str, Any]:
        return self.root.get(name, {})


def load_user_config(path: Path) -> UserConfig:
    document = parse_yaml(path)
    return validate(document, UserConfig, empty={})
