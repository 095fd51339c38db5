"""The local scheduler ticker's notion of "due": rate, cron (Scheduler's six fields) and at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infra.local.cron import next_fire

T0 = datetime(2026, 3, 2, 10, 7, 30, tzinfo=UTC)  # a Monday


def test_rate_fires_every_period_from_creation() -> None:
    created = T0 - timedelta(hours=13)
    assert next_fire("rate(6 hours)", "UTC", T0, created=created) == created + timedelta(hours=18)
    assert next_fire("rate(1 minute)", "UTC", created, created=created) == created + timedelta(minutes=1)


def test_cron_daily_at_a_time_in_the_schedule_time_zone() -> None:
    # 02:00 in Berlin (UTC+1 in March before DST) is 01:00 UTC, the next day.
    assert next_fire("cron(0 2 * * ? *)", "Europe/Berlin", T0) == datetime(2026, 3, 3, 1, 0, tzinfo=UTC)


def test_cron_weekdays_by_name_and_steps() -> None:
    # Every 15 minutes on weekdays: the next quarter hour.
    assert next_fire("cron(0/15 * ? * MON-FRI *)", "UTC", T0) == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    # Sundays only (SUN = 1): from Monday, six days later.
    assert next_fire("cron(30 9 ? * 1 *)", "UTC", T0) == datetime(2026, 3, 8, 9, 30, tzinfo=UTC)


def test_cron_day_of_month_and_month_names() -> None:
    assert next_fire("cron(0 0 1 JAN ? *)", "UTC", T0) == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)


def test_at_fires_once() -> None:
    assert next_fire("at(2026-03-02T12:00:00)", "UTC", T0) == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert next_fire("at(2026-03-01T12:00:00)", "UTC", T0) is None


@pytest.mark.parametrize(
    "expression", ["cron(0 0 L * ? *)", "cron(0 0 * *)", "every day", "cron(61 0 * * ? *)"]
)
def test_unsupported_or_malformed_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match=r"cron|schedule|range"):
        next_fire(expression, "UTC", T0)
