"""Shared connector pieces: safe base URLs, opaque cursors, field helpers."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.providers.base import InvalidCursor, ProviderSettingsError
from shared.providers.common import (
    checked_base_url,
    decode_cursor,
    encode_cursor,
    iso_day,
    pick,
    record_id,
    text,
    unique,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://acme.bamboohr.com", "https://acme.bamboohr.com"),
        ("https://api.eu.personio.de/", "https://api.eu.personio.de"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("http://localhost:9000/", "http://localhost:9000"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("https://8.8.8.8", "https://8.8.8.8"),
    ],
)
def test_base_urls_that_are_safe_to_send_credentials_to(value: str, expected: str) -> None:
    assert checked_base_url(value, "base_url") == expected


@pytest.mark.parametrize(
    "value",
    [
        "http://api.hibob.com",  # credentials in clear text
        "https://169.254.169.254",  # instance metadata
        "http://169.254.169.254",
        "https://10.0.0.5",
        "https://192.168.1.1:8443",
        "https://[fd00::1]",
        # IPv4 in the shorthand forms the resolver (inet_aton) still reads as 10.0.0.1 / 127.0.0.1
        "https://167772161",
        "https://0x0a000001",
        "https://0xA.0.0.1",
        "https://10.1",
        "https://10.0.1",
        "https://0177.1",
        "https://127.1",
        "https://user:pw@api.merge.dev",
        "https://api.merge.dev/api/hris/v1",
        "https://api.merge.dev?x=1",
        "ftp://api.merge.dev",
        "not a url",
        "https://",
    ],
)
def test_base_urls_that_could_leak_credentials_or_reach_internal_services_are_refused(value: str) -> None:
    with pytest.raises(ProviderSettingsError):
        checked_base_url(value, "base_url")


@given(
    st.dictionaries(st.sampled_from(["page", "offset", "after", "cursor"]), st.integers(0, 10**9) | st.text())
)
def test_cursors_round_trip_and_belong_to_their_provider(state: dict[str, object]) -> None:
    cursor = encode_cursor("merge", state)
    assert decode_cursor("merge", cursor) == state
    with pytest.raises(InvalidCursor):
        decode_cursor("personio", cursor)


@given(st.text(max_size=60))
def test_any_string_decodes_to_state_or_invalid_cursor(cursor: str) -> None:
    try:
        state = decode_cursor("merge", cursor)
    except InvalidCursor:
        return
    assert isinstance(state, dict)


def test_field_helpers() -> None:
    assert text("  x ") == "x"
    assert text("") is None
    assert text(5) == "5"
    assert text(True) is None
    assert text({"a": 1}) is None
    assert unique(["a", None, "b", "a", ""]) == ("a", "b")
    assert pick({"a": 1, "ssn": "123", "b": None}, ["a", "b", "c"]) == {"a": 1, "b": None}
    assert iso_day("2020-01-31T00:00:00+01:00") == date(2020, 1, 31)
    assert iso_day("31/01/2020") is None
    assert iso_day("0000-00-00") is None


def test_r25_an_id_is_never_cut_and_a_thousand_characters_of_text_are_kept() -> None:
    long_id = '#/"é' * 750  # 3,000 characters: an id cut short would be another employee's
    assert record_id({"id": f" {long_id} "}, "id", "vendor") == long_id
    assert record_id({"id": 12345678901234567890}, "id", "vendor") == "12345678901234567890"
    assert text("ñ" * 1000) == "ñ" * 1000
    assert text("y" * 990 + "@acme.test") == "y" * 990 + "@acme.test"
