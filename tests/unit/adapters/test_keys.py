"""R25: any text an HR system sends can be part of a key; keys are injective, readable and fit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters import keys
from shared.errors import InvalidInput, KeyTooLong

# Every code point, lone surrogates included (JSON can carry "\ud800"; UTF-8 cannot).
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=60)
ID = st.text(st.characters(exclude_categories=()), min_size=1, max_size=60)
# Values built to collide when a part is not escaped: separators, escapes, near-escapes.
TRICKY = st.lists(
    st.sampled_from(["#", "%", "%23", "%25", "%u", "a", "M", "T", "/", '"', "é", "\ud800"]), min_size=1
).map("".join)
IDS = st.one_of(ID, TRICKY)
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)


@PROPERTY
@given(ANY_TEXT)
def test_r25_escape_round_trips_any_text_and_leaves_no_separator(value):
    escaped = keys.escape(value)
    assert keys.SEP not in escaped
    assert keys.unescape(escaped) == value
    escaped.encode()  # valid UTF-8 even when the value holds a lone surrogate


@PROPERTY
@given(IDS, IDS, IDS)
def test_r25_link_key_is_injective_and_splits_back_into_its_parts(tenant, connection, hris_id):
    key = keys.link_pk(tenant, connection, hris_id)
    # split is a function of the key, so equal keys would mean equal parts: the key is injective.
    assert keys.split(key) == ["T", tenant, "L", connection, hris_id]


@PROPERTY
@given(IDS, IDS, IDS, IDS)
def test_r25_distinct_values_never_share_a_key(tenant, other_tenant, value, other_value):
    pairs = [
        (keys.member_pk(tenant, value), keys.member_pk(other_tenant, other_value)),
        (keys.email_pk(tenant, f"{value}@x"), keys.email_pk(other_tenant, f"{other_value}@x")),
        (keys.link_pk(tenant, value, other_value), keys.link_pk(tenant, other_value, value)),
        (
            keys.time_sort("2026-03-02T09:30:00.000000Z", value),
            keys.time_sort("2026-03-02T09:30:00.000000Z", other_value),
        ),
    ]
    same_member = (tenant, value) == (other_tenant, other_value)
    same_email = (tenant, f"{value}@x".strip().lower()) == (other_tenant, f"{other_value}@x".strip().lower())
    assert (pairs[0][0] == pairs[0][1]) is same_member
    assert (pairs[1][0] == pairs[1][1]) is same_email
    assert (pairs[2][0] == pairs[2][1]) is (value == other_value)
    assert (pairs[3][0] == pairs[3][1]) is (value == other_value)


@PROPERTY
@given(IDS, IDS, IDS)
def test_r25_no_id_can_forge_another_kind_of_item_or_another_tenants_prefix(tenant, other_tenant, value):
    partition_keys = {
        keys.member_pk(tenant, value),
        keys.email_pk(tenant, f"{value}@x"),
        keys.link_pk(tenant, value, value),
        keys.audit_pk(tenant, value),
        keys.task_pk(tenant, value),
        keys.run_pk(tenant, value),
        keys.member_audit_gsi(tenant, value),
        keys.connection_runs_gsi(tenant, value),
        keys.tenant_pk(tenant),
    }
    assert len(partition_keys) == 9
    # A tenant's items are exactly those under ``T#<tenant>#`` (or the tenant partition itself).
    prefix = keys.tenant_prefix(other_tenant) + keys.SEP
    for key in partition_keys - {keys.tenant_pk(tenant)}:
        assert key.startswith(prefix) is (tenant == other_tenant)


@PROPERTY
@given(IDS, IDS, IDS)
def test_r25_begins_with_on_a_source_matches_that_source_only(source, other_source, member_id):
    sort_key = keys.member_source_sort(source, member_id)
    assert sort_key.startswith(keys.member_source_prefix(other_source)) is (source == other_source)


def test_r25_ordinary_ids_and_emails_are_their_own_key_parts():
    assert keys.link_pk("t1", "c1", "E-1001") == "T#t1#L#c1#E-1001"
    assert keys.email_pk("t1", " Ada.Lovelace@Example.com ") == "T#t1#E#ada.lovelace@example.com"
    assert keys.link_pk("t1", "c1", "a#b/c%d") == "T#t1#L#c1#a%23b/c%25d"
    assert keys.email_pk("t1", "zoë@exämple.com") == "T#t1#E#zoë@exämple.com"


def test_r25_a_thousand_characters_fit_and_a_key_over_the_dynamodb_limit_is_refused_by_name():
    thousand = "x" * 1000
    assert keys.split(keys.link_pk("t1", "c1", thousand))[-1] == thousand
    assert keys.split(keys.email_pk("t1", f"{thousand}@example.com"))[-1] == f"{thousand}@example.com"
    with pytest.raises(KeyTooLong) as too_long:
        keys.link_pk("t1", "c1", "x" * 2100)
    assert too_long.value.field == "hris_id" and too_long.value.limit == keys.PARTITION_KEY_MAX_BYTES
    # The limit is bytes: 700 three-byte characters are 2,100 bytes; each "#" becomes three.
    with pytest.raises(KeyTooLong):
        keys.email_pk("t1", "€" * 700)
    with pytest.raises(KeyTooLong):
        keys.link_pk("t1", "c1", "#" * 700)
    # Sort keys allow 1,024 bytes.
    assert len(keys.member_sort("m" * 1024)) == 1024
    with pytest.raises(KeyTooLong) as sort_too_long:
        keys.member_sort("m" * 1025)
    assert sort_too_long.value.limit == keys.SORT_KEY_MAX_BYTES
    # A too-long key is bad input (a 4xx through the API), never a crash.
    assert isinstance(sort_too_long.value, InvalidInput)


def test_an_empty_id_names_nothing():
    with pytest.raises(InvalidInput):
        keys.member_pk("t1", "")
