"""Typed errors: stable codes and HTTP statuses, details that carry no secrets."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.errors import (
    ConnectionLimitReached,
    ConnectionNotFound,
    CorruptItem,
    EmailTaken,
    InvalidInput,
    LockHeld,
    MemberNotFound,
    NotFound,
    ProviderCredentialsRejected,
    Throttled,
    VersionConflict,
)


def test_every_error_has_a_stable_code_and_status() -> None:
    cases = [
        (ConnectionNotFound("c1"), "connection_not_found", 404),
        (MemberNotFound("m1"), "member_not_found", 404),
        (VersionConflict("member", "m1", 3), "version_conflict", 409),
        (EmailTaken("a@b.c"), "email_taken", 409),
        (LockHeld("c1", "run_1", datetime(2026, 1, 1, tzinfo=UTC)), "sync_running", 409),
        (ConnectionLimitReached(1), "connection_limit_reached", 409),
        (InvalidInput("bad", field="limit"), "invalid_input", 422),
        (Throttled("PutItem"), "throttled", 503),
        (CorruptItem("pk=T#a sk=MEMBER#m1", "missing status"), "corrupt_item", 500),
        (ProviderCredentialsRejected("refused"), "provider_credentials_rejected", 502),
    ]
    for error, code, status in cases:
        assert (error.code, error.http_status) == (code, status)
    assert isinstance(MemberNotFound("m1"), NotFound)


def test_details_are_json_safe_and_name_the_key() -> None:
    held = LockHeld("c1", "run_1", datetime(2026, 1, 1, tzinfo=UTC))
    assert held.details == {
        "connection_id": "c1",
        "holder": "run_1",
        "expires_at": "2026-01-01T00:00:00+00:00",
    }
    corrupt = CorruptItem("pk=T#a sk=MEMBER#m1", "missing status")
    assert "pk=T#a sk=MEMBER#m1" in str(corrupt)
    assert InvalidInput("bad", field="limit").details == {"field": "limit"}
