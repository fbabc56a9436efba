"""An MCPServer's egress policy: from addresses, CIDRs and names to NetworkPolicy rules."""

from __future__ import annotations

import copy

import pytest
from controller.fakekube import FakeKube
from kubemcp.controller.kinds import owner_reference
from kubemcp.controller.server_network import apply_egress, egress_policy, egress_rules, in_place, policy_name
from kubemcp.crd.models import EgressSpec
from kubemcp.kube.client import path_for
from kubemcp.model.entry import CatalogEntry

pytestmark = pytest.mark.anyio
OWNER = owner_reference(
    {"apiVersion": "kubemcp.dev/v1alpha1", "kind": "MCPServer", "metadata": {"name": "github", "uid": "u1"}}
)


def resolver(name: str) -> list[str]:
    return {"api.github.com": ["140.82.112.6", "140.82.112.5"]}.get(name, [])


def test_addresses_cidrs_and_names_become_ip_blocks_with_their_ports() -> None:
    found = egress_rules(["10.0.0.5", "10.1.0.0/16:8443", "api.github.com:443", "[2001:db8::1]:8080"], resolver)
    assert found.problems == []
    assert found.rules == [
        {"to": [{"ipBlock": {"cidr": "10.0.0.5/32"}}]},
        {"to": [{"ipBlock": {"cidr": "10.1.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 8443}]},
        {
            "to": [{"ipBlock": {"cidr": "140.82.112.5/32"}}, {"ipBlock": {"cidr": "140.82.112.6/32"}}],
            "ports": [{"protocol": "TCP", "port": 443}],
        },
        {"to": [{"ipBlock": {"cidr": "2001:db8::1/128"}}], "ports": [{"protocol": "TCP", "port": 8080}]},
        {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},  # a name: DNS allowed too
    ]


def test_what_cannot_be_used_is_reported_and_left_out() -> None:
    found = egress_rules(["nowhere.invalid:443", "10.0.0.1:http"], resolver)
    assert found.rules == []
    assert len(found.problems) == 2
    assert "nowhere.invalid" in found.problems[0]


def test_the_policy_selects_the_servers_pods_and_allows_nothing_by_default() -> None:
    policy = egress_policy("github", "team", OWNER, [])
    assert policy["metadata"]["name"] == policy_name("github")
    assert policy["spec"]["policyTypes"] == ["Egress"]
    assert policy["spec"]["egress"] == []
    assert policy["spec"]["podSelector"]["matchLabels"]["kubemcp.dev/server"] == "github"
    assert policy["metadata"]["ownerReferences"] == [OWNER]
    assert egress_policy("github", "team", OWNER, None)["spec"]["egress"] == [{}]  # no limit


async def test_apply_follows_the_mcpserver_fields() -> None:
    kube = FakeKube()
    entry = CatalogEntry.model_validate({"image": "x"})
    path = path_for("networking.k8s.io/v1", "networkpolicies", "team", policy_name("github"))
    assert (await apply_egress(kube, "github", "team", OWNER, None, entry, resolver)) is None
    assert kube.objects[path]["spec"]["egress"] == []
    assert (await apply_egress(kube, "github", "team", OWNER, EgressSpec(allowAll=True), entry, resolver)) is None
    assert kube.objects[path]["spec"]["egress"] == [{}]
    spec = EgressSpec(to=["api.github.com:443", "nowhere.invalid"])
    problem = await apply_egress(kube, "github", "team", OWNER, spec, entry, resolver)
    assert problem is not None
    assert "nowhere.invalid" in problem
    assert len(kube.objects[path]["spec"]["egress"]) == 2  # github's addresses, and DNS


async def test_the_catalog_entry_allows_hosts_or_no_network_at_all() -> None:
    kube = FakeKube()
    path = path_for("networking.k8s.io/v1", "networkpolicies", "team", policy_name("github"))
    allowing = CatalogEntry.model_validate({"image": "x", "allowHosts": ["api.github.com:443"]})
    assert (await apply_egress(kube, "github", "team", OWNER, None, allowing, resolver)) is None
    assert len(kube.objects[path]["spec"]["egress"]) == 2
    isolated = CatalogEntry.model_validate({"image": "x", "disableNetwork": True, "allowHosts": ["10.0.0.1"]})
    anything = EgressSpec(allowAll=True)
    assert (await apply_egress(kube, "github", "team", OWNER, anything, isolated, resolver)) is None
    assert kube.objects[path]["spec"]["egress"] == []  # disableNetwork wins over everything


def test_a_policy_is_in_place_as_the_api_server_returns_it() -> None:
    wanted = egress_policy("github", "team", OWNER, [])  # nothing allowed: `egress: []`
    returned = copy.deepcopy(wanted)
    del returned["spec"]["egress"]  # the API server leaves an empty list out
    returned["metadata"].update(resourceVersion="7", uid="u", generation=1)
    assert in_place(wanted, returned)
    assert not in_place(egress_policy("github", "team", OWNER, None), returned)  # allow all: `egress: [{}]`
    assert in_place(egress_policy("github", "team", OWNER, None), egress_policy("github", "team", OWNER, None))
    assert not in_place(wanted, None)
