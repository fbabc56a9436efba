"""The operator's in-memory index: newer copies win, deletions stick, and a LIST makes good what events missed."""

from __future__ import annotations

from typing import Any

from kubemcp.controller.index import ObjectIndex, older

Obj = dict[str, Any]
PLURAL = "mcpservers"


def obj(name: str, version: str, namespace: str = "team", **fields: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": version}, **fields}


def test_resource_versions_are_ordered_as_numbers_and_anything_else_is_taken() -> None:
    assert older("9", "10")
    assert not older("10", "9")
    assert not older("abc", "10")  # cannot be ordered: not older, so it is taken


def test_an_older_copy_never_replaces_a_newer_one() -> None:
    index = ObjectIndex()
    index.seen(PLURAL, obj("a", "10", spec={"v": 2}))
    index.seen(PLURAL, obj("a", "9", spec={"v": 1}))  # a late event
    assert index.get(PLURAL, "team", "a") == obj("a", "10", spec={"v": 2})
    index.seen(PLURAL, obj("a", "11", spec={"v": 3}))
    assert (index.get(PLURAL, "team", "a") or {})["spec"] == {"v": 3}


def test_the_index_keeps_its_own_copy() -> None:
    index = ObjectIndex()
    event = obj("a", "1", spec={"v": 1})
    index.seen(PLURAL, event)
    event["spec"]["v"] = 2  # whoever handed it in changes theirs
    assert (index.get(PLURAL, "team", "a") or {})["spec"] == {"v": 1}


def test_a_list_taken_before_a_deletion_does_not_bring_the_object_back() -> None:
    index = ObjectIndex()
    index.seen(PLURAL, obj("a", "5"))
    index.gone(PLURAL, obj("a", "8"))  # the DELETED event
    index.replace(PLURAL, "team", [obj("a", "5")], version="7")  # a LIST that started before it went
    assert index.get(PLURAL, "team", "a") is None
    index.replace(PLURAL, "team", [], version="9")  # a later LIST knows of the deletion: nothing to remember
    index.seen(PLURAL, obj("a", "12"))  # made again under the same name
    assert index.get(PLURAL, "team", "a") == obj("a", "12")


def test_a_list_removes_what_it_did_not_return_unless_seen_after_it() -> None:
    index = ObjectIndex()
    index.seen(PLURAL, obj("missed", "3"))  # deleted while no event reached us
    index.seen(PLURAL, obj("fresh", "20"))  # created after the LIST was taken
    index.seen(PLURAL, obj("elsewhere", "4", namespace="other"))
    index.replace(PLURAL, "team", [obj("kept", "6")], version="10")
    assert [item["metadata"]["name"] for item in index.items(PLURAL, "team")] == ["fresh", "kept"]
    assert index.get(PLURAL, "other", "elsewhere") is not None  # another scope is left alone


def test_a_scope_answers_only_once_it_was_listed() -> None:
    index = ObjectIndex()
    index.seen(PLURAL, obj("a", "1"))  # events alone do not make it complete
    assert not index.synced(PLURAL, "team")
    index.replace(PLURAL, "team", [obj("a", "1")], version="2")
    assert index.synced(PLURAL, "team")
    assert not index.synced(PLURAL, "other")
    assert not index.synced("mcpgateways", "team")
    index.replace(PLURAL, None, [], version="3")  # the whole cluster
    assert index.synced(PLURAL, "other")


def test_known_and_labelled_answer_only_for_a_listed_namespace() -> None:
    index = ObjectIndex()
    pod = obj("p", "5")
    pod["metadata"]["labels"] = {"server": "a", "role": "call"}
    index.seen("pods", pod)
    assert index.known("pods", "team", "p") is None  # seen, but the namespace was never listed: ask the API
    assert index.labelled("pods", "team", {"server": "a"}) is None
    index.replace("pods", "team", [pod], "5")
    assert index.known("pods", "team", "p") == pod
    assert index.known("pods", "team", "other") is None
    assert index.labelled("pods", "team", {"server": "a", "role": "call"}) == [pod]
    assert index.labelled("pods", "team", {"server": "b"}) == []
