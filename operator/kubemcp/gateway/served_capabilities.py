"""The capabilities the gateway announces: what it really supports for the servers it serves.

Tools, prompts and resources (with `listChanged`, since the served set can change) always. Logging
and completions when a served server offers them, resource subscriptions when a resident
(long-lived or per-session) server offers them: a per-call server has no instance left to send
updates. A server whose capabilities are not known yet (never connected, nothing recorded) counts
as offering them, so a capability is never hidden from a client only because discovery has not run.
"""

from __future__ import annotations

from dataclasses import dataclass

import mcp_types as types

from kubemcp.model.spec import ServerSpec


@dataclass(frozen=True)
class ServedCapabilities:
    logging: bool
    completions: bool
    subscribe: bool


def served_capabilities(
    specs: dict[str, ServerSpec], known: dict[str, types.ServerCapabilities | None]
) -> ServedCapabilities:
    logging = completions = subscribe = False
    for name, spec in specs.items():
        caps = known.get(name)
        logging = logging or caps is None or caps.logging is not None
        completions = completions or caps is None or caps.completions is not None
        offers_subscribe = caps is None or (caps.resources is not None and bool(caps.resources.subscribe))
        subscribe = subscribe or (spec.lifecycle.resident and offers_subscribe)
    return ServedCapabilities(logging=logging, completions=completions, subscribe=subscribe)


def announce(base: types.ServerCapabilities, served: ServedCapabilities) -> types.ServerCapabilities:
    """`base` (what the SDK derives from the handlers) with what the served set decides."""
    resources = base.resources
    if resources is not None:
        resources = resources.model_copy(update={"subscribe": served.subscribe or None})
    return base.model_copy(
        update={
            "logging": types.LoggingCapability() if served.logging else None,
            "completions": types.CompletionsCapability() if served.completions else None,
            "resources": resources,
        }
    )
