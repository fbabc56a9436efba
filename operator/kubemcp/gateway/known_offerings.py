"""What each server offers (tools, prompts, resources, templates), learnt once and kept on disk.

A server's definitions are keyed by its spec digest, so a changed image, command, env or config
is discovered again while an unchanged one never starts just to be listed.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import mcp_types as types
from mcp.client import Client
from pydantic import BaseModel, Field, ValidationError

from kubemcp.gateway.spec import ServerSpec

logger = logging.getLogger(__name__)


class Offerings(BaseModel):
    """Everything one server lists."""

    tools: list[types.Tool] = Field(default_factory=list)
    prompts: list[types.Prompt] = Field(default_factory=list)
    resources: list[types.Resource] = Field(default_factory=list)
    resource_templates: list[types.ResourceTemplate] = Field(default_factory=list)


MAX_PAGES = 100


async def list_offerings(client: Client) -> Offerings:
    """List everything a connected server offers, following pagination."""
    caps = client.server_capabilities
    found = Offerings()
    if caps.tools is not None:
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            tools = await client.list_tools(cursor=cursor)
            found.tools.extend(tools.tools)
            if not (cursor := tools.next_cursor):
                break
    if caps.prompts is not None:
        cursor = None
        for _ in range(MAX_PAGES):
            prompts = await client.list_prompts(cursor=cursor)
            found.prompts.extend(prompts.prompts)
            if not (cursor := prompts.next_cursor):
                break
    if caps.resources is not None:
        cursor = None
        for _ in range(MAX_PAGES):
            resources = await client.list_resources(cursor=cursor)
            found.resources.extend(resources.resources)
            if not (cursor := resources.next_cursor):
                break
        cursor = None
        for _ in range(MAX_PAGES):
            templates = await client.list_resource_templates(cursor=cursor)
            found.resource_templates.extend(templates.resource_templates)
            if not (cursor := templates.next_cursor):
                break
    return found


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
    """The tools a catalog entry declares, when it declares them."""
    if spec.entry.tools is None:
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
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(found.model_dump(mode="json", by_alias=True, exclude_none=True)), "utf-8")
            tmp.replace(path)
        except OSError as exc:
            logger.warning("cannot write discovery cache %s: %s", path, exc)
