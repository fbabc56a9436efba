"""What a server offers (tools, prompts, resources, templates), listed from a connected server."""

from __future__ import annotations

import mcp_types as types
from mcp.client import Client
from pydantic import BaseModel, Field


class Offerings(BaseModel):
    """Everything one server lists, and the capabilities it announced (None: not known)."""

    capabilities: types.ServerCapabilities | None = None
    tools: list[types.Tool] = Field(default_factory=list)
    prompts: list[types.Prompt] = Field(default_factory=list)
    resources: list[types.Resource] = Field(default_factory=list)
    resource_templates: list[types.ResourceTemplate] = Field(default_factory=list)


MAX_PAGES = 100


async def list_offerings(client: Client) -> Offerings:
    """List everything a connected server offers, following pagination."""
    caps = client.server_capabilities
    found = Offerings(capabilities=caps)
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
