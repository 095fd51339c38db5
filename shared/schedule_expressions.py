"""Validation of EventBridge Scheduler expressions and time zones (R28).

moto's Scheduler accepts any expression, so we check them ourselves, before anything is stored:
``rate(<n> minute|minutes|hour|hours|day|days)`` and the six-field
``cron(minutes hours day-of-month month day-of-week year)`` where exactly one of day-of-month and
day-of-week is ``?``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.errors import InvalidInput

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\(([^()]+)\)$")
_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"


def validate_schedule_expression(expression: str) -> str:
    """Return the expression (stripped) when EventBridge Scheduler would accept it; else raise."""
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1:
            raise InvalidInput("a rate must be at least 1", field="schedule.expression")
        if (value == 1) != (not unit.endswith("s")):
            raise InvalidInput(
                f"use {'the singular' if value == 1 else 'the plural'} unit with rate({value} ...)",
                field="schedule.expression",
            )
        return text
    cron = _CRON.match(text)
    if not cron:
        raise InvalidInput(
            "schedule must be rate(<n> <unit>) or cron(<6 fields>)", field="schedule.expression"
        )
    parts = cron.group(1).split()
    if len(parts) != len(_FIELDS):
        raise InvalidInput("a cron expression has 6 fields", field="schedule.expression")
    for part, spec in zip(parts, _FIELDS, strict=True):
        _check_cron_field(part, spec)
    day_of_month, day_of_week = parts[2], parts[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise InvalidInput(
            "exactly one of day-of-month and day-of-week must be '?'", field="schedule.expression"
        )
    return text


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: str = ""
    special: str = ""


_FIELDS = (
    _Field("minutes", 0, 59),
    _Field("hours", 0, 23),
    _Field("day-of-month", 1, 31, special="?LW"),
    _Field("month", 1, 12, names=_MONTHS),
    _Field("day-of-week", 1, 7, names=_DAYS, special="?L#"),
    _Field("year", 1970, 2199),
)


def _check_cron_field(part: str, spec: _Field) -> None:
    if part == "*" or (part == "?" and "?" in spec.special):
        return
    for item in part.split(","):
        if not _cron_item_ok(item, spec):
            raise InvalidInput(f"invalid cron {spec.name} field {part!r}", field="schedule.expression")


def _cron_item_ok(item: str, spec: _Field) -> bool:
    base, _, step = item.partition("/")
    if step and (not step.isdigit() or int(step) < 1):
        return False
    special = spec.special
    if base == "*" or ("L" in special and base in ("L", "LW")):
        return True
    if "W" in special and re.fullmatch(r"\d{1,2}W", base):
        return _value_ok(base[:-1], spec)
    if "#" in special and "#" in base:
        day, _, nth = base.partition("#")
        return _value_ok(day, spec) and nth.isdigit() and 1 <= int(nth) <= 5
    if "L" in special and base.endswith("L") and len(base) > 1:
        return _value_ok(base[:-1], spec)
    first, _, last = base.partition("-")
    return _value_ok(first, spec) and (not last or _value_ok(last, spec))


def _value_ok(value: str, spec: _Field) -> bool:
    if value.isdigit():
        return spec.low <= int(value) <= spec.high
    return bool(spec.names) and value.upper() in spec.names.split("|")


def validate_timezone(timezone: str) -> str:
    """Return the IANA time zone name when it exists; else raise ``InvalidInput``."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {timezone[:64]!r}", field="timezone") from exc
    return timezone
