"""Warm-pool planning and the sweeper's choice of Pods to remove (pure functions of Pod lists)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubemcp.controller.sweeper import sweep_plan
from kubemcp.controller.warm_pool_pods import MAX_AGE, plan_pool, pool_selector

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _at(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    name: str,
    *,
    digest: str = "d1",
    state: str = "running",
    reason: str = "",
    age: float = 60,
    phase: str | None = None,
    deadline: int | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if state == "terminated":
        detail = {"exitCode": 0, "finishedAt": _at(age / 2)}
    elif state == "waiting":
        detail = {"reason": reason, "message": "details"}
    spec: dict[str, Any] = {}
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": _at(age),
            "labels": {"kubemcp.dev/digest": digest, "kubemcp.dev/role": "pool", **(labels or {})},
        },
        "spec": spec,
        "status": {
            "phase": phase or {"running": "Running", "waiting": "Pending", "terminated": "Succeeded"}[state],
            "startTime": _at(age),
            "containerStatuses": [{"name": "server", "state": {state: detail}}],
        },
    }


def test_an_empty_pool_is_filled() -> None:
    plan = plan_pool([], 3, "d1", NOW)
    assert (plan.create, plan.ready, plan.remove) == (3, 0, [])


def test_starting_pods_count_but_are_not_ready() -> None:
    plan = plan_pool([pod("a"), pod("b", state="waiting", reason="ContainerCreating")], 2, "d1", NOW)
    assert (plan.create, plan.ready, plan.remove, plan.problem) == (0, 1, [], None)


def test_stale_finished_and_old_pods_are_replaced() -> None:
    pods = [
        pod("stale", digest="d0"),
        pod("ended", state="terminated"),
        pod("old", age=MAX_AGE + 5),
        pod("good"),
        pod("leaving"),
    ]
    pods[-1]["metadata"]["deletionTimestamp"] = _at(1)
    plan = plan_pool(pods, 2, "d1", NOW)
    assert sorted(r.name for r in plan.remove) == ["ended", "old", "stale"]
    assert (plan.create, plan.ready) == (1, 1)


def test_a_pool_too_large_loses_starting_pods_first() -> None:
    pods = [pod("starting", state="waiting", reason="ContainerCreating", age=1), pod("r1"), pod("r2", age=30)]
    plan = plan_pool(pods, 2, "d1", NOW)
    assert [r.name for r in plan.remove] == ["starting"]
    assert (plan.create, plan.ready) == (0, 2)


def test_claimed_pods_are_not_the_pools_and_no_digest_empties_it() -> None:
    claimed = pod("claimed", labels={"kubemcp.dev/claimed": "gw"})
    assert plan_pool([claimed], 1, "d1", NOW).create == 1
    assert [r.name for r in plan_pool([pod("a")], 0, None, NOW).remove] == ["a"]


def test_pods_that_cannot_start_are_reported_not_churned() -> None:
    plan = plan_pool([pod("a", state="waiting", reason="CreateContainerConfigError")], 1, "d1", NOW)
    assert (plan.create, plan.remove) == (0, [])
    assert plan.problem == "pod a cannot start: CreateContainerConfigError: details"


def test_pool_selector() -> None:
    assert pool_selector("dice") == "kubemcp.dev/server=dice,kubemcp.dev/role=pool"


# -- the sweeper ---------------------------------------------------------------------------------


def test_finished_pods_go_after_a_grace_period() -> None:
    pods = [
        pod("done-long-ago", state="terminated", age=120),
        pod("just-done", state="terminated", age=10),
        pod("failed", state="waiting", reason="x", phase="Failed", age=600),
    ]
    pods[2]["status"]["conditions"] = [{"type": "Ready", "lastTransitionTime": _at(300)}]
    pods[2]["status"]["containerStatuses"] = []
    removals = sweep_plan(pods, NOW)
    assert [(r.name, r.why) for r in removals] == [
        ("done-long-ago", "finished (Succeeded)"),
        ("failed", "finished (Failed)"),
    ]


def test_running_pods_go_only_past_their_deadline() -> None:
    pods = [
        pod("in-time", age=100, deadline=600),
        pod("overdue", age=700, deadline=600),
        pod("no-deadline", age=500),
        pod("no-deadline-overdue", age=3600),
    ]
    assert [r.name for r in sweep_plan(pods, NOW)] == ["overdue", "no-deadline-overdue"]


def test_pods_being_deleted_are_left_alone() -> None:
    gone = pod("gone", state="terminated", age=500)
    gone["metadata"]["deletionTimestamp"] = _at(1)
    assert sweep_plan([gone], NOW) == []


def test_resident_pods_have_no_deadline_but_go_once_finished() -> None:
    pods = [
        pod("resident-running-long", age=86400, labels={"kubemcp.dev/role": "resident"}),
        pod("resident-done", state="terminated", age=500, labels={"kubemcp.dev/role": "resident"}),
    ]
    assert [r.name for r in sweep_plan(pods, NOW)] == ["resident-done"]
