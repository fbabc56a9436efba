"""An MCPServer's egress: a NetworkPolicy that lets its Pods connect only where it is allowed.

Nothing by default. `spec.egress.allowAll` lifts the limit; `spec.egress.to` (and the catalog
entry's `allowHosts`) names destinations: addresses and CIDRs as they are, DNS names resolved by
the operator at each pass (with DNS itself allowed, so the server can resolve them too); an
entry's `disableNetwork` forbids all egress whatever else says.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubemcp.controller import kinds
from kubemcp.controller.report import differs
from kubemcp.crd.models import EgressSpec
from kubemcp.kube.api import KubeApi
from kubemcp.kube.client import path_for
from kubemcp.model.entry import CatalogEntry
from kubemcp.model.names import dns_label

Obj = dict[str, Any]
Resolver = Callable[[str], list[str]]
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


@dataclass
class Egress:
    rules: list[Obj] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def system_resolver(name: str) -> list[str]:
    try:
        found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in found})


def split_target(target: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]:port`, `cidr`, `cidr:port` -> (host or cidr, port)."""
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port else None
    if target.count(":") == 1:
        host, _, port = target.partition(":")
        return host, int(port)
    return target, None


def _cidr(host: str) -> str | None:
    try:
        return str(ipaddress.ip_network(host, strict=False))
    except ValueError:
        return None


def egress_rules(targets: list[str], resolve: Resolver = system_resolver) -> Egress:
    found = Egress()
    names = False
    for target in targets:
        try:
            host, port = split_target(target)
        except ValueError:
            found.problems.append(f"{target!r} is not an address, CIDR or name with an optional :port")
            continue
        literal = _cidr(host)
        # Sorted, so the same answer in another order writes nothing new.
        cidrs = [literal] if literal else sorted({c for address in resolve(host) if (c := _cidr(address))})
        if not cidrs:
            found.problems.append(f"{host!r} does not resolve to an address")
            continue
        names = names or literal is None
        rule: Obj = {"to": [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]}
        if port is not None:
            rule["ports"] = [{"protocol": "TCP", "port": port}]
        found.rules.append(rule)
    if names:
        found.rules.append({"ports": DNS_PORTS})
    return found


def policy_name(server: str) -> str:
    return f"kubemcp-server-{dns_label(server, 40)}-egress"


def egress_policy(server: str, namespace: str, owner: Obj, rules: list[Obj] | None) -> Obj:
    """`rules` None: no limit; [] : nothing allowed."""
    spec: Obj = {
        "podSelector": {
            "matchLabels": {"kubemcp.dev/server": dns_label(server, 63), kinds.LABEL_MANAGED_BY: "kubemcp"}
        },
        "policyTypes": ["Egress"],
        "egress": [{}] if rules is None else rules,
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": policy_name(server),
            "namespace": namespace,
            "labels": {kinds.LABEL_MANAGED_BY: "kubemcp"},
            "ownerReferences": [owner],
        },
        "spec": spec,
    }


async def desired_egress(
    server: str,
    namespace: str,
    owner: Obj,
    spec: EgressSpec | None,
    entry: CatalogEntry,
    resolve: Resolver = system_resolver,
) -> tuple[Obj, str | None]:
    """The server's egress policy as its MCPServer and catalog entry say, and a problem line or None."""
    allow_all = bool(spec is not None and spec.allow_all)
    targets = [*(spec.to if spec is not None else []), *entry.allow_hosts]
    if entry.disable_network:
        rules: list[Obj] | None = []
        problems: list[str] = []
    elif allow_all:
        rules, problems = None, []
    else:
        found = await asyncio.to_thread(egress_rules, targets, resolve)
        rules, problems = found.rules, found.problems
    return egress_policy(server, namespace, owner, rules), "; ".join(problems) or None


def owning_server(policy: Obj) -> str | None:
    """The MCPServer an egress policy belongs to (None for any other policy)."""
    for ref in kinds.meta(policy).get("ownerReferences") or []:
        if ref.get("kind") == kinds.KIND_OF[kinds.SERVERS] and ref.get("name"):
            return str(ref["name"])
    return None


def policy_path(body: Obj) -> str:
    return path_for("networking.k8s.io/v1", "networkpolicies", body["metadata"]["namespace"], body["metadata"]["name"])


def _omitting_empty(value: Any) -> Any:
    """`value` as the API server returns it: fields holding an empty list or object are left out (`egress: []`
    comes back as no `egress`), list items are kept whatever they hold (`egress: [{}]` stays)."""
    if isinstance(value, dict):
        return {key: _omitting_empty(item) for key, item in value.items() if item not in (None, [], {})}
    if isinstance(value, list):
        return [_omitting_empty(item) for item in value]
    return value


def in_place(body: Obj, existing: Obj | None) -> bool:
    """Whether `existing` already is the policy `body` describes (then nothing is written)."""
    if existing is None:
        return False
    wanted = {key: body["metadata"][key] for key in ("labels", "ownerReferences")}
    return not differs(wanted, existing.get("metadata")) and _omitting_empty(existing.get("spec")) == _omitting_empty(
        body["spec"]
    )


async def apply_egress(
    kube: KubeApi,
    server: str,
    namespace: str,
    owner: Obj,
    spec: EgressSpec | None,
    entry: CatalogEntry,
    resolve: Resolver = system_resolver,
    existing: Obj | None = None,
) -> str | None:
    """Level-based: the server's egress policy as its MCPServer and catalog entry say, applied unless `existing`
    (the policy as last seen) already is it; a problem line or None."""
    body, problem = await desired_egress(server, namespace, owner, spec, entry, resolve)
    if not in_place(body, existing):
        await kube.apply(policy_path(body), body, manager=kinds.MANAGER)
    return problem
