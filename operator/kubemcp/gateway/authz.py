"""Authorization per principal: what a caller may list and use, decided by an `authz.yaml` policy.

Without a policy every authenticated caller may use everything; the stdio transport's caller is
trusted with everything whatever the policy says. With one, an item (`server:name`) is allowed when
a rule naming the caller allows it (or the policy's default is `allow`) and no rule naming the caller
denies it: deny wins.

Principals that the same rules name see the same items, so a filtered listing is kept per served
listing and per set of matching rules: a new caller costs no discovery and, after its first
listing, no filtering.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from kubemcp.files.authz_policy import AuthzPolicy
from kubemcp.gateway.listing import Listing, Route
from kubemcp.gateway.principal import Principal

ALL_KEY: tuple[int, ...] = (-1,)  # the key of callers who may use everything


@dataclass(frozen=True)
class Grant:
    """What one set of matching rules allows."""

    default_allow: bool
    allow: tuple[str, ...]
    deny: tuple[str, ...]

    def allows(self, server: str, name: str) -> bool:
        if any(_matches(pattern, server, name) for pattern in self.deny):
            return False
        return self.default_allow or any(_matches(pattern, server, name) for pattern in self.allow)


EVERYTHING = Grant(default_allow=True, allow=(), deny=())


def _matches(pattern: str, server: str, name: str) -> bool:
    if pattern == "*:*":
        return True
    server_pattern, _, name_pattern = pattern.partition(":")
    return fnmatchcase(server, server_pattern) and fnmatchcase(name, name_pattern)


class AccessPolicy:
    def __init__(self, policy: AuthzPolicy | None) -> None:
        self.policy = policy
        self._grants: dict[tuple[int, ...], Grant] = {}

    def _key(self, principal: Principal) -> tuple[int, ...]:
        if self.policy is None or principal.trusted:
            return ALL_KEY
        selectors = principal.selectors()
        return tuple(i for i, rule in enumerate(self.policy.rules) if selectors.intersection(rule.principals))

    def grant(self, principal: Principal) -> tuple[tuple[int, ...], Grant]:
        key = self._key(principal)
        if key == ALL_KEY:
            return key, EVERYTHING
        found = self._grants.get(key)
        if found is None:
            assert self.policy is not None
            rules = [self.policy.rules[i] for i in key]
            found = Grant(
                default_allow=self.policy.default == "allow",
                allow=tuple(pattern for rule in rules for pattern in rule.allow),
                deny=tuple(pattern for rule in rules for pattern in rule.deny),
            )
            self._grants[key] = found
        return key, found

    @property
    def rule_count(self) -> int:
        return len(self.policy.rules) if self.policy is not None else 0

    def allows(self, principal: Principal, server: str, name: str) -> bool:
        return self.grant(principal)[1].allows(server, name)

    def view(self, listing: Listing, principal: Principal) -> Listing:
        """What `principal` may see of `listing`: kept on the listing, per set of matching rules."""
        key, grant = self.grant(principal)
        if grant is EVERYTHING:
            return listing
        cache_key = (id(self), key)
        found = listing.views.get(cache_key)
        if found is None:
            found = _filtered(listing, grant)
            listing.views[cache_key] = found
        return found


def _filtered(listing: Listing, grant: Grant) -> Listing:
    def route_ok(route: Route) -> bool:
        return grant.allows(route.server, route.name)

    view = Listing()
    view.tool_routes = {name: route for name, route in listing.tool_routes.items() if route_ok(route)}
    view.prompt_routes = {name: route for name, route in listing.prompt_routes.items() if route_ok(route)}
    view.resource_routes = {uri: s for uri, s in listing.resource_routes.items() if grant.allows(s, uri)}
    templates = [
        (template, route)
        for template, route in zip(listing.resource_templates, listing.template_routes, strict=True)
        if grant.allows(route[1], route[0])
    ]
    view.resource_templates = [template for template, _ in templates]
    view.template_routes = [route for _, route in templates]
    view.tools = [tool for tool in listing.tools if tool.name in view.tool_routes]
    view.prompts = [prompt for prompt in listing.prompts if prompt.name in view.prompt_routes]
    view.resources = [r for r in listing.resources if str(r.uri) in view.resource_routes]
    return view
