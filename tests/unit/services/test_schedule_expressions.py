"""R28: schedule expressions are validated by us (moto's Scheduler accepts anything)."""

from __future__ import annotations

import pytest

from shared.errors import InvalidInput
from shared.schedule_expressions import validate_schedule_expression, validate_timezone


@pytest.mark.parametrize(
    "expression",
    [
        "rate(6 hours)",
        "rate(1 day)",
        "rate(15 minutes)",
        "cron(0 8 ? * MON-FRI *)",
        "cron(0/15 * * * ? *)",
        "cron(0 6 L * ? *)",
        "cron(0 6 ? * 2#1 *)",
        "cron(30 2 15W * ? 2027)",
    ],
)
def test_r28_valid_rate_and_cron_expressions_are_accepted(expression: str) -> None:
    assert validate_schedule_expression(f"  {expression} ") == expression


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "every day",
        "rate(0 hours)",
        "rate(1 days)",
        "rate(2 hour)",
        "rate(6 weeks)",
        "cron(0 8 * * * *)",  # both day fields set
        "cron(0 8 ? * ? *)",  # neither set
        "cron(61 8 ? * MON *)",
        "cron(0 24 ? * MON *)",
        "cron(0 8 ? * FUNDAY *)",
        "cron(0 8 ? * MON)",
        "cron(0 8 32 * ? *)",
        "at(2026-01-01T00:00:00)",
    ],
)
def test_r28_invalid_expressions_are_rejected_with_a_typed_error(expression: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_schedule_expression(expression)
    assert caught.value.field == "schedule.expression"


def test_r28_unknown_time_zone_is_rejected() -> None:
    assert validate_timezone("Europe/Berlin") == "Europe/Berlin"
    with pytest.raises(InvalidInput):
        validate_timezone("Mars/Olympus")
