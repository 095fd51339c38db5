"""When a schedule is next due (the admin API's ``next_run_at``, the local ticker): rate, cron
(Scheduler's six fields, with the day specials the validator accepts) and at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.schedule_expressions import next_fire

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


def test_r28_every_expression_the_validator_accepts_has_a_next_fire_time() -> None:
    # L: the last day of the month; LW: its last weekday (31 Jan 2026 is a Saturday).
    assert next_fire("cron(0 8 L * ? *)", "UTC", T0) == datetime(2026, 3, 31, 8, 0, tzinfo=UTC)
    jan = datetime(2026, 1, 2, tzinfo=UTC)
    assert next_fire("cron(0 8 LW * ? *)", "UTC", jan) == datetime(2026, 1, 30, 8, 0, tzinfo=UTC)
    # 15W: the weekday nearest the 15th (15 Mar 2026 is a Sunday: Monday the 16th).
    assert next_fire("cron(0 8 15W * ? *)", "UTC", T0) == datetime(2026, 3, 16, 8, 0, tzinfo=UTC)
    # 1W on a Saturday (1 Aug 2026) stays in the month: Monday the 3rd.
    assert next_fire("cron(0 8 1W AUG ? *)", "UTC", T0) == datetime(2026, 8, 3, 8, 0, tzinfo=UTC)
    # 6L: the last Friday of the month; 2#1: the first Monday; L alone in day-of-week: Saturday.
    assert next_fire("cron(0 8 ? * 6L *)", "UTC", T0) == datetime(2026, 3, 27, 8, 0, tzinfo=UTC)
    assert next_fire("cron(0 8 ? * MON#1 *)", "UTC", T0) == datetime(2026, 4, 6, 8, 0, tzinfo=UTC)
    assert next_fire("cron(0 8 ? * L *)", "UTC", T0) == datetime(2026, 3, 7, 8, 0, tzinfo=UTC)


def test_a_cron_that_never_matches_never_fires() -> None:
    assert next_fire("cron(0 0 31 FEB ? *)", "UTC", T0) is None


@pytest.mark.parametrize("expression", ["cron(0 0 * *)", "every day", "cron(61 0 * * ? *)"])
def test_unsupported_or_malformed_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match=r"cron|schedule|range"):
        next_fire(expression, "UTC", T0)
