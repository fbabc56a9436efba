"""The aggregated view: every served server's offerings under the names clients see."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from mcp.shared.uri_template import UriTemplate

from kubemcp.backend.offerings import Offerings
from kubemcp.model.names import public_names, tool_selected

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    server: str
    name: str


@dataclass
class Listing:
    tools: list[types.Tool] = field(default_factory=list)
    prompts: list[types.Prompt] = field(default_factory=list)
    resources: list[types.Resource] = field(default_factory=list)
    resource_templates: list[types.ResourceTemplate] = field(default_factory=list)
    tool_routes: dict[str, Route] = field(default_factory=dict)
    prompt_routes: dict[str, Route] = field(default_factory=dict)
    resource_routes: dict[str, str] = field(default_factory=dict)
    template_routes: list[tuple[str, str]] = field(default_factory=list)
    # What each set of callers may see of this listing (`authz`), kept as long as the listing is.
    views: dict[object, Listing] = field(default_factory=dict, repr=False, compare=False)
    # Its tools/list result as sent, by protocol version (`listing_cache`), kept as long as it is.
    rendered: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)
    # That result encoded for the HTTP response around the request's id, by protocol version and wire
    # (`kept_answers`), kept as long as it is.
    wire: dict[tuple[str, str], tuple[Any, Any]] = field(default_factory=dict, repr=False, compare=False)

    def resource_owner(self, uri: str) -> tuple[str, str] | None:
        """The server serving a resource URI (or a URI template, for completions), and the resource's name
        there (the URI, or the template it matches); None when no served resource has it."""
        server = self.resource_routes.get(uri)
        if server is None:
            server = next((owner for template, owner in self.template_routes if template == uri), None)
        if server is not None:
            return server, uri
        for template, owner in self.template_routes:
            if UriTemplate.parse(template).match(uri) is not None:
                return owner, template
        return None

    def fingerprint(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """What list_changed notifications compare."""
        return (
            tuple(sorted(t.model_dump_json() for t in self.tools)),
            tuple(sorted(p.model_dump_json() for p in self.prompts)),
            tuple(sorted(r.model_dump_json() for r in [*self.resources, *self.resource_templates])),
        )


def build_listing(
    offerings: dict[str, Offerings],
    *,
    prefix_all: bool = False,
    tool_filter: set[str] | None = None,
    prefixes: dict[str, str] | None = None,
) -> Listing:
    """Merge offerings in served order, applying the naming rule (and servers' own tool prefixes)
    and the tool filter."""
    listing = Listing()
    tool_names = public_names(
        [(server, tool.name) for server, found in offerings.items() for tool in found.tools],
        prefix_all=prefix_all,
        prefixes=prefixes,
    )
    prompt_names = public_names(
        [(server, prompt.name) for server, found in offerings.items() for prompt in found.prompts],
        prefix_all=prefix_all,
    )
    for server, found in offerings.items():
        for tool in found.tools:
            public = tool_names[(server, tool.name)]
            if tool_selected(tool_filter, server, tool.name, public):
                listing.tools.append(tool.model_copy(update={"name": public}))
                listing.tool_routes[public] = Route(server, tool.name)
        for prompt in found.prompts:
            public = prompt_names[(server, prompt.name)]
            listing.prompts.append(prompt.model_copy(update={"name": public}))
            listing.prompt_routes[public] = Route(server, prompt.name)
        for resource in found.resources:
            uri = str(resource.uri)
            if uri in listing.resource_routes:
                logger.warning("resource %s of %s is shadowed by %s", uri, server, listing.resource_routes[uri])
                continue
            listing.resources.append(resource)
            listing.resource_routes[uri] = server
        for template in found.resource_templates:
            listing.resource_templates.append(template)
            listing.template_routes.append((template.uri_template, server))
    return listing
