"""status.conditions: transition times move only on a change of status; transitions drive Events."""

from __future__ import annotations

from kubemcp.crd.conditions import Condition, find, merge_conditions, transitions


def test_transition_time_moves_only_when_the_status_changes() -> None:
    first = merge_conditions(None, [Condition.false("Ready", "Starting", "wait")], 1, now="2026-01-01T00:00:00Z")
    assert first == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Starting",
            "message": "wait",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
            "observedGeneration": 1,
        }
    ]
    same = merge_conditions(first, [Condition.false("Ready", "Other", "new text")], 2, now="2026-01-02T00:00:00Z")
    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert (same[0]["reason"], same[0]["observedGeneration"]) == ("Other", 2)
    flipped = merge_conditions(same, [Condition.true("Ready", "Ready")], 2, now="2026-01-03T00:00:00Z")
    assert flipped[0]["lastTransitionTime"] == "2026-01-03T00:00:00Z"


def test_other_conditions_are_kept_and_sorted() -> None:
    current = merge_conditions(None, [Condition.true("Resolved", "Resolved")], 1, now="t0")
    merged = merge_conditions(current, [Condition.unknown("Discovered", "Discovering")], 1, now="t1")
    assert [c["type"] for c in merged] == ["Discovered", "Resolved"]
    assert find(merged, "Resolved") == current[0]
    assert find(merged, "Ready") is None


def test_transitions_name_changed_status_or_reason() -> None:
    before = merge_conditions(None, [Condition.true("A", "Ok"), Condition.false("B", "Bad")], 1, now="t0")
    after = merge_conditions(before, [Condition.true("A", "Ok", "other message"), Condition.false("B", "Worse")], 1)
    assert [item["type"] for item, _ in transitions(before, after)] == ["B"]
    assert [item["type"] for item, old in transitions(None, after) if old is None] == ["A", "B"]


def test_long_messages_are_cut() -> None:
    [condition] = merge_conditions(None, [Condition.false("Ready", "Long", "x" * 10_000)], None)
    assert len(condition["message"]) == 4000
    assert "observedGeneration" not in condition
