"""What each server offers, known without starting it: declared in its catalog entry, recorded by the
operator's discovery, or learnt once and kept on disk.

A server's definitions are keyed by its spec digest, so a changed image, command, env or config
is discovered again while an unchanged one never starts just to be listed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import mcp_types as types
from pydantic import ValidationError

from kubemcp.atomic import write_text
from kubemcp.backend.offerings import Offerings
from kubemcp.model.spec import ServerSpec

logger = logging.getLogger(__name__)


def from_recorded(spec: ServerSpec) -> Offerings | None:
    """Definitions recorded in the entry itself (the operator's discovery), if any."""
    found = spec.entry.discovered
    if found is None:
        return None
    return Offerings.model_validate(
        {
            "tools": found.tools,
            "prompts": found.prompts,
            "resources": found.resources,
            "resource_templates": found.resource_templates,
        }
    )


def from_catalog(spec: ServerSpec) -> Offerings | None:
    """The tools a catalog entry declares, when it declares them. A list of bare names (Docker's
    catalogs often give no description or schema) says too little to serve: the server is asked."""
    if spec.entry.tools is None or not all(tool.defined for tool in spec.entry.tools):
        return None
    tools = [
        types.Tool(
            name=tool.name,
            title=tool.title,
            description=tool.description,
            input_schema=tool.schema_for_listing(),
            annotations=types.ToolAnnotations.model_validate(tool.annotations) if tool.annotations else None,
        )
        for tool in spec.entry.tools
    ]
    return Offerings(tools=tools)


class DiscoveryCache:
    """Offerings by server name and digest, in memory and (when given a folder) on disk."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._memory: dict[tuple[str, str], Offerings] = {}

    def _file(self, spec: ServerSpec) -> Path | None:
        return None if self.folder is None else self.folder / f"{spec.name}-{spec.digest}.json"

    def get(self, spec: ServerSpec) -> Offerings | None:
        key = (spec.name, spec.digest)
        if key in self._memory:
            return self._memory[key]
        path = self._file(spec)
        if path is None or not path.is_file():
            return None
        try:
            found = Offerings.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError, ValueError):
            logger.warning("ignoring unreadable discovery cache %s", path)
            return None
        self._memory[key] = found
        return found

    def put(self, spec: ServerSpec, found: Offerings) -> None:
        self._memory[(spec.name, spec.digest)] = found
        path = self._file(spec)
        if path is None:
            return
        try:
            write_text(path, json.dumps(found.model_dump(mode="json", by_alias=True, exclude_none=True)))
        except OSError as exc:
            logger.warning("cannot write discovery cache %s: %s", path, exc)
