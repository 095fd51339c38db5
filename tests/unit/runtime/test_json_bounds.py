"""``shared.json_bounds``: hostile JSON is a decode error, never another exception."""

from __future__ import annotations

import json

import pytest

from shared import json_bounds


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # past the recursion limit
        "[" * (json_bounds.MAX_DEPTH + 1) + "]" * (json_bounds.MAX_DEPTH + 1),  # parses, too deep
        '{"a": ' + "9" * 5000 + "}",  # past Python's int-from-string limit
        "-" + "1" * (json_bounds.MAX_INT_DIGITS + 1),
    ],
    ids=["recursion", "depth", "int-limit", "long-int"],
)
def test_out_of_bounds_json_is_a_json_decode_error(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json_bounds.loads(text)
    with pytest.raises(json_bounds.JsonOutOfBounds):
        json_bounds.loads(text.encode())


def test_json_within_bounds_reads_as_json_loads_does() -> None:
    text = json.dumps({"a": [[{"b": -(10**63)}]] * 3, "c": 1.5e300, "d": "x"})
    nested = "[" * json_bounds.MAX_DEPTH + "]" * json_bounds.MAX_DEPTH
    assert json_bounds.loads(text) == json.loads(text)
    assert json_bounds.loads(nested) == json.loads(nested)
    with pytest.raises(json.JSONDecodeError):
        json_bounds.loads("{not json")
