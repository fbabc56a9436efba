"""The collision rule for tool and prompt names, the resource shadowing rule, and which server owns a URI."""

from __future__ import annotations

import mcp_types as types
from kubemcp.backend.offerings import Offerings
from kubemcp.gateway.listing import Route, build_listing
from kubemcp.model.names import public_names


def _tools(*names: str) -> Offerings:
    return Offerings(tools=[types.Tool(name=n, input_schema={"type": "object"}) for n in names])


def test_unique_names_stay_bare_and_collisions_are_qualified() -> None:
    names = public_names([("a", "read"), ("a", "only_a"), ("b", "read"), ("c", "only_c")])
    assert names == {
        ("a", "read"): "a__read",
        ("a", "only_a"): "only_a",
        ("b", "read"): "b__read",
        ("c", "only_c"): "only_c",
    }


def test_prefix_all() -> None:
    assert public_names([("a", "x")], prefix_all=True) == {("a", "x"): "a__x"}


def test_listing_routes_each_public_name_to_its_server() -> None:
    listing = build_listing({"a": _tools("read", "write"), "b": _tools("read")})
    assert [t.name for t in listing.tools] == ["a__read", "write", "b__read"]
    assert listing.tool_routes == {
        "a__read": Route("a", "read"),
        "write": Route("a", "write"),
        "b__read": Route("b", "read"),
    }


def test_tool_filter_accepts_public_names_and_server_patterns() -> None:
    offered = {"a": _tools("read", "write"), "b": _tools("read", "list")}
    assert [t.name for t in build_listing(offered, tool_filter={"write", "b:*"}).tools] == ["write", "b__read", "list"]
    assert [t.name for t in build_listing(offered, tool_filter={"a:read"}).tools] == ["a__read"]


def test_first_server_keeps_a_shared_resource_uri() -> None:
    resource = types.Resource(uri="file:///same", name="same")
    listing = build_listing({"a": Offerings(resources=[resource]), "b": Offerings(resources=[resource])})
    assert listing.resource_routes == {"file:///same": "a"}
    assert len(listing.resources) == 1


def test_fingerprint_changes_with_the_served_set() -> None:
    assert build_listing({"a": _tools("x")}).fingerprint() != build_listing({"a": _tools("y")}).fingerprint()


def test_a_resource_uri_is_owned_by_its_server_or_by_the_first_template_it_matches() -> None:
    def offered(uri: str, template: str) -> Offerings:
        return Offerings(
            resources=[types.Resource(name="r", uri=uri)],
            resource_templates=[types.ResourceTemplate(name="t", uri_template=template)],
        )

    listing = build_listing({"a": offered("notes://today", "notes://{topic}"), "b": offered("b://x", "notes://{x}")})
    assert listing.resource_owner("notes://today") == ("a", "notes://today")  # the resource before any template
    assert listing.resource_owner("b://x") == ("b", "b://x")
    assert listing.resource_owner("notes://apples") == ("a", "notes://{topic}")  # the first template that matches
    assert listing.resource_owner("notes://{x}") == ("b", "notes://{x}")  # a template itself (completions)
    assert listing.resource_owner("other://x") is None
