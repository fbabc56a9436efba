"""NetworkPolicy is enforced (kube-router's firewall on every node): ingress and egress,
denied by default once a policy selects a Pod, allowed again by a matching rule."""

from __future__ import annotations

from functools import partial

import pytest

from . import podnet
from . import settings as S
from .client import Cluster
from .waiting import holds_for, wait_for

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not S.NETWORK_POLICY, reason="KUBEMCP_CLUSTER_NETWORK_POLICY=0: no policy agent runs"),
]

# kube-router applies a change within a second; the deadline leaves room for a busy machine.
# What a policy denies, kube-router v2.1.0 rejects (ICMP port unreachable): clients see
# "connection refused" at once rather than a timeout; both count as blocked.
ENFORCED_WITHIN = 30


def test_ingress_deny_all_blocks_new_clients(cluster: Cluster, namespace: str) -> None:
    podnet.create(cluster, namespace, podnet.server("server"), podnet.client("client"))
    server_ip = podnet.wait_running(cluster, namespace, "server")["status"]["podIP"]
    podnet.wait_running(cluster, namespace, "client")
    target = podnet.url(server_ip)
    wait_for(lambda: podnet.probe(cluster, namespace, "client", target) == "200", 60, "the client to reach the server")

    # Selects the server, allows no ingress: every connection to it is dropped.
    podnet.apply_policy(
        cluster, namespace, podnet.policy("server-deny-ingress", {"app": "server"}, {"policyTypes": ["Ingress"]})
    )
    wait_for(
        lambda: podnet.probe(cluster, namespace, "client", target) in podnet.BLOCKED,
        ENFORCED_WITHIN,
        "the policy to block the client",
    )
    podnet.create(cluster, namespace, podnet.one_shot_probe("late-client", target))
    assert podnet.wait_done(cluster, namespace, "late-client").strip() in podnet.BLOCKED

    # The server still listens: it answers where no policy applies, inside its own Pod.
    assert podnet.probe(cluster, namespace, "server", f"http://127.0.0.1:{podnet.PORT}/") == "200"


def test_egress_deny_with_an_allow_rule_for_the_server(cluster: Cluster, namespace: str) -> None:
    podnet.create(
        cluster,
        namespace,
        podnet.server("server"),
        podnet.server("other"),
        podnet.client("client"),
    )
    server = podnet.url(podnet.wait_running(cluster, namespace, "server")["status"]["podIP"])
    other = podnet.url(podnet.wait_running(cluster, namespace, "other")["status"]["podIP"])
    podnet.wait_running(cluster, namespace, "client")

    def probe(target: str, timeout: float = 3) -> str:
        return podnet.probe(cluster, namespace, "client", target, timeout)

    def answers(target: str, outcome: str) -> bool:
        return podnet.answers(cluster, namespace, "client", target, outcome)

    for target in (server, other):
        wait_for(partial(answers, target, "200"), 60, f"the client to reach {target}")

    # Selects the client, allows no egress.
    podnet.apply_policy(
        cluster, namespace, podnet.policy("client-deny-egress", {"app": "client"}, {"policyTypes": ["Egress"]})
    )
    for target in (server, other):
        wait_for(
            partial(answers, target, "blocked"),
            ENFORCED_WITHIN,
            f"the policy to block egress to {target}",
        )

    # Policies add up: egress to Pods labelled app=server on the server's port is allowed again.
    allow = {
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [{"podSelector": {"matchLabels": {"app": "server"}}}],
                "ports": [{"protocol": "TCP", "port": podnet.PORT}],
            }
        ],
    }
    podnet.apply_policy(cluster, namespace, podnet.policy("client-to-server", {"app": "client"}, allow))
    wait_for(
        lambda: probe(server) == "200",
        ENFORCED_WITHIN,
        "the allow rule to let the client reach the server",
    )
    holds_for(
        lambda: probe(other, timeout=2) in podnet.BLOCKED,
        5,
        "egress to the Pod without the label stays blocked",
    )
