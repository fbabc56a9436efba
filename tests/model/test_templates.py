"""Docker's template language: pipes, list-valued terms, unset values and `$VAR` expansion."""

from __future__ import annotations

import pytest
from kubemcp.model.templates import evaluate, evaluate_list, expand_from, problems

SCOPE = {"fs": {"paths": ["/a", "/b"], "one": "/x", "empty": [], "win": "C:\\Users\\me"}, "n": 3, "flag": True}


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("{{fs.paths}}", ["/a", "/b"]),
        ("{{fs.paths|volume|into}}", ["/a:/a", "/b:/b"]),
        ("{{fs.paths|volume-target|into}}", ["/a", "/b"]),
        ("{{fs.win|volume}}", "C:\\Users\\me:/C/Users/me"),
        ("{{fs.one|into}}", ["/x"]),
        ("{{fs.paths|first}}", "/a"),
        ("{{fs.paths|last}}", "/b"),
        ("{{fs.empty|first}}", ""),
        ("{{fs.missing|or:fallback}}", "fallback"),
        ("{{fs.empty|or:[c,d]}}", ["c", "d"]),
        ("{{fs.one|mount_as:/logs:ro}}", "/x:/logs:ro"),
        ("{{fs.missing|mount_as:/logs}}", ""),
        ("{{ fs . one }}", "/x"),
        ("{{nothing.at.all}}", ""),
        ("n={{n}} flag={{flag}}", "n=3 flag=true"),
        ("plain", "plain"),
    ],
)
def test_expressions(expression: str, value: object) -> None:
    assert evaluate(expression, SCOPE) == value


def test_lists_spread_into_several_items_and_unset_stays_one_empty_item() -> None:
    assert evaluate_list(["--dir", "{{fs.paths|into}}", "{{fs.missing}}"], SCOPE) == ["--dir", "/a", "/b", ""]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Bearer $TOKEN", "Bearer t0k"),
        ("${TOKEN}-x", "t0k-x"),
        ("$UNKNOWN.", "."),
        ("cost: $5", "cost: "),
        ("a $ b", "a $ b"),
        ("end$", "end$"),
        ("${unclosed", "unclosed"),
        ("${}x", "x"),
    ],
)
def test_variables_expand_as_a_shell_would(text: str, value: str) -> None:
    assert expand_from(text, {"TOKEN": "t0k"}) == value


def test_unknown_functions_are_reported() -> None:
    assert problems("{{x|volume|sparkle}} {{y|or:1}}") == [
        "unknown template function 'sparkle' in '{{x|volume|sparkle}}'"
    ]
