"""Secret masking: every spelling of a value that text we write may hold."""

from __future__ import annotations

import json
import logging

import pytest
from kubemcp.logs import JsonFormatter, SecretMask
from kubemcp.masking import MASK, SecretValues, forms, mask

SECRET = 'quote"back\\slash-é-' + "9d41"


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"value": SECRET}),
        json.dumps({"value": SECRET}, ensure_ascii=False),
        json.dumps({"message": json.dumps({"value": SECRET})}),  # a JSON-RPC message logged inside JSON
        json.dumps({"message": json.dumps({"value": SECRET}, ensure_ascii=False)}, ensure_ascii=False),
        repr({"value": SECRET}),
        repr(json.dumps({"value": SECRET}).encode()),  # a debug log of the bytes on the wire
        repr(SECRET.encode()),
        '{"value":"' + SECRET.replace("\\", "\\\\").replace('"', '\\"') + '"}',  # JavaScript's JSON.stringify
    ],
)
def test_json_and_repr_escaped_forms_are_masked(text: str) -> None:
    masked = mask(text, [SECRET])
    assert MASK in masked
    for piece in ("quote", "back", "slash-"):
        assert piece not in masked, masked


def test_go_escaped_form_is_masked() -> None:
    value = "a&b<c>" + "7f1e9a"
    go = json.dumps(value).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    assert mask(go, [value]) == f'"{MASK}"'


def test_plain_values_have_one_spelling() -> None:
    assert forms("abcdef123") == {"abcdef123"}
    assert forms("") == set()


def test_log_records_are_masked_in_json_logs() -> None:
    values = SecretValues()
    values.add([SECRET])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "received %s", (json.dumps({"v": SECRET}),), None)
    assert SecretMask(values).filter(record)
    line = JsonFormatter().format(record)
    assert "quote" not in line
    assert MASK in json.loads(line)["message"]
