"""The gateway's Prometheus metrics, in a registry of their own (served on `/metrics`).

Labels stay bounded: server and tool names come from the catalog, outcomes and phases from short
fixed lists; never arguments, principals or tokens. Values that live in objects (warm instances
ready, sessions, replicas) are read when scraped by a collector the gateway registers.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

# Latency buckets from a warm local call (milliseconds) to a cold Pod on a slow node (minutes).
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
START_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)

# Outcomes of a tool call: answered, answered with isError, failed at the server, refused by the gateway.
OUTCOMES = ("ok", "tool_error", "error", "denied", "unknown_tool")

TOOL_CALLS = Counter(
    "kubemcp_tool_calls",
    "Tool calls by server, tool and outcome (ok, tool_error, error, denied, unknown_tool).",
    ["server", "tool", "outcome"],
    registry=REGISTRY,
)
TOOL_CALL_SECONDS = Histogram(
    "kubemcp_tool_call_duration_seconds",
    "Seconds from a tool call's arrival at the gateway to its answer, by server and tool.",
    ["server", "tool"],
    buckets=CALL_BUCKETS,
    registry=REGISTRY,
)
CALLS_IN_FLIGHT = Gauge(
    "kubemcp_tool_calls_in_flight", "Tool calls being answered now, by server.", ["server"], registry=REGISTRY
)
INSTANCE_STARTS = Counter(
    "kubemcp_instance_starts",
    "Server instances started (a process, a container or a Pod, handshake included), by outcome.",
    ["server", "outcome"],
    registry=REGISTRY,
)
INSTANCE_START_PHASE = Histogram(
    "kubemcp_instance_start_phase_seconds",
    "Seconds from the start of an instance until it reached each phase (Kubernetes: created or claimed, "
    "scheduled, running, attached, initialized; local: spawned, initialized).",
    ["server", "phase"],
    buckets=START_BUCKETS,
    registry=REGISTRY,
)
WARM_POOL_TAKES = Counter(
    "kubemcp_warm_pool_takes",
    "Per-call requests to a server with a warm pool: hit (a ready instance was taken), waited (for one that"
    " was starting) or miss (it started its own).",
    ["server", "result"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "kubemcp_backend_queue_depth",
    "Requests waiting for admission to a server (set by the pool's admission control).",
    ["server"],
    registry=REGISTRY,
)
INTERCEPTOR_DECISIONS = Counter(
    "kubemcp_interceptor_decisions",
    "What interceptors decided: allow, deny, rewrite, respond, or fail (the call failed closed).",
    ["when", "kind", "decision"],
    registry=REGISTRY,
)
CONFIG_RELOADS = Counter(
    "kubemcp_config_reloads",
    "Reloads of the gateway's files, by outcome (applied, unchanged, rejected).",
    ["outcome"],
    registry=REGISTRY,
)
RELOAD_OUTCOMES = ("applied", "unchanged", "rejected")
INTERCEPTOR_DECISION_NAMES = ("allow", "deny", "rewrite", "respond", "fail")
# Counters of a known set of outcomes are exported at 0 from the start: a series that first appears at 1
# shows no increase in rate() or increase(), so a dashboard would miss the first reload or denial.
for _outcome in RELOAD_OUTCOMES:
    CONFIG_RELOADS.labels(outcome=_outcome)


def expect_interceptor_decisions(when: str, kind: str) -> None:
    """Export a configured interceptor's decision counters at 0 (for the same reason)."""
    for decision in INTERCEPTOR_DECISION_NAMES:
        INTERCEPTOR_DECISIONS.labels(when=when, kind=kind, decision=decision)


def record_queue_depth(server: str, depth: int) -> None:
    """The hook for admission control: how many requests wait for `server` now."""
    QUEUE_DEPTH.labels(server=server).set(depth)


def exposition() -> bytes:
    """The registry in Prometheus' text format."""
    return generate_latest(REGISTRY)
