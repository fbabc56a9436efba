"""When the operator writes status, and which condition changes deserve an Event."""

from __future__ import annotations

from kubemcp.controller.report import differs, worth_an_event
from kubemcp.crd.conditions import Condition, merge_conditions


def test_differs_is_a_merge_patch_check() -> None:
    current = {"a": 1, "b": {"c": [1, 2], "d": "x"}}
    assert not differs({"a": 1}, current)
    assert not differs({"b": {"c": [1, 2]}}, current)
    assert differs({"b": {"c": [1]}}, current)
    assert differs({"e": None, "a": 1}, {"a": 1, "e": 0})  # removing a field is a change
    assert not differs({"e": None}, {"a": 1})
    assert differs({"b": {"new": 1}}, current)


def test_events_for_problems_recoveries_and_readiness() -> None:
    bad = merge_conditions(
        None,
        [Condition.false("Resolved", "CatalogNotFound", "m"), Condition.false("Ready", "CatalogNotFound", "m")],
        1,
    )
    assert worth_an_event(None, bad) == [("Warning", "CatalogNotFound", "m")]  # one Event per problem
    fine = merge_conditions(
        bad,
        [
            Condition.true("Resolved", "Resolved", "ok"),
            Condition.true("Ready", "Ready", "3 tools"),
            Condition.false("Degraded", "AsExpected"),
        ],
        1,
    )
    assert worth_an_event(bad, fine) == [("Normal", "Ready", "3 tools"), ("Normal", "Resolved", "ok")]
    assert worth_an_event(fine, fine) == []
    degraded = merge_conditions(fine, [Condition.true("Degraded", "WarmPoolFailing", "pod cannot start")], 1)
    assert worth_an_event(fine, degraded) == [("Warning", "WarmPoolFailing", "pod cannot start")]
    pending = merge_conditions(None, [Condition.unknown("Discovered", "Discovering")], 1)
    assert worth_an_event(None, pending) == []
