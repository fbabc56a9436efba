"""`config.yaml`: per-server configuration values, `{server: {key: value}}`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import RootModel

from kubemcp.files._located import parse_yaml, validate


class UserConfig(RootModel[dict[str, dict[str, Any]]]):
    def for_server(self, name: str) -> dict[str, Any]:
        return self.root.get(name, {})


def load_user_config(path: Path) -> UserConfig:
    document = parse_yaml(path)
    return validate(document, UserConfig, empty={})
