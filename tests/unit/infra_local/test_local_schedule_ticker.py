"""The local stack's schedule ticker (infra/local/workers.py) against the Scheduler API's answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from infra.local.workers import ScheduleTicker

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


class _NotFound(Exception):
    pass


class _Scheduler:
    """Lists two schedules; one is deleted (a disconnect) before the ticker reads it."""

    exceptions = SimpleNamespace(ResourceNotFoundException=_NotFound)

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_schedules"
        pages = [{"Schedules": [{"Name": "gone"}, {"Name": "kept"}]}]
        return SimpleNamespace(paginate=lambda **_: pages)

    def get_schedule(self, *, Name: str, GroupName: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        if Name == "gone":
            raise _NotFound(Name)
        return {
            "Name": Name,
            "State": "ENABLED",
            "ScheduleExpression": "rate(1 minute)",
            "CreationDate": NOW - timedelta(minutes=2),
            "Target": {"Arn": "arn:aws:states:::machine", "Input": '{"connection_id": "c1"}'},
        }


def test_a_schedule_deleted_between_listing_and_reading_is_skipped_and_the_rest_fire() -> None:
    fired: list[tuple[str, str]] = []
    ticker = ScheduleTicker(_Scheduler(), "hris-sync", lambda arn, payload: fired.append((arn, payload)))

    assert ticker.tick(NOW) == ["kept"]
    assert fired == [("arn:aws:states:::machine", '{"connection_id": "c1"}')]
