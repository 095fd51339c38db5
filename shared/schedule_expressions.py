"""Validation of EventBridge Scheduler expressions and time zones (R28).

moto's Scheduler accepts any expression, so we check them ourselves, before anything is stored:
``rate(<n> minute|minutes|hour|hours|day|days)`` and the six-field
``cron(minutes hours day-of-month month day-of-week year)`` where exactly one of day-of-month and
day-of-week is ``?``.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.errors import InvalidInput

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\(([^()]+)\)$")
_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"

# field -> (low, high, names allowed, extra special characters allowed)
_FIELDS: tuple[tuple[str, int, int, str, str], ...] = (
    ("minutes", 0, 59, "", ""),
    ("hours", 0, 23, "", ""),
    ("day-of-month", 1, 31, "", "?LW"),
    ("month", 1, 12, _MONTHS, ""),
    ("day-of-week", 1, 7, _DAYS, "?L#"),
    ("year", 1970, 2199, "", ""),
)


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
        _check_cron_field(part, *spec)
    day_of_month, day_of_week = parts[2], parts[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise InvalidInput(
            "exactly one of day-of-month and day-of-week must be '?'", field="schedule.expression"
        )
    return text


def _check_cron_field(part: str, name: str, low: int, high: int, names: str, special: str) -> None:
    if part in ("*",) or (part == "?" and "?" in special):
        return
    for item in part.split(","):
        if not _cron_item_ok(item, low, high, names, special):
            raise InvalidInput(f"invalid cron {name} field {part!r}", field="schedule.expression")


def _cron_item_ok(item: str, low: int, high: int, names: str, special: str) -> bool:
    base, _, step = item.partition("/")
    if step and (not step.isdigit() or int(step) < 1):
        return False
    if base == "*":
        return True
    if "L" in special and base in ("L", "LW") or ("W" in special and re.fullmatch(r"\d{1,2}W", base)):
        return True
    if "#" in special and "#" in base:
        day, _, nth = base.partition("#")
        return _value_ok(day, low, high, names) and nth.isdigit() and 1 <= int(nth) <= 5
    if "L" in special and base.endswith("L") and len(base) > 1:
        return _value_ok(base[:-1], low, high, names)
    first, _, last = base.partition("-")
    if last:
        return _value_ok(first, low, high, names) and _value_ok(last, low, high, names)
    return _value_ok(first, low, high, names)


def _value_ok(value: str, low: int, high: int, names: str) -> bool:
    if value.isdigit():
        return low <= int(value) <= high
    return bool(names) and value.upper() in names.split("|")


def validate_timezone(timezone: str) -> str:
    """Return the IANA time zone name when it exists; else raise ``InvalidInput``."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {timezone[:64]!r}", field="timezone") from exc
    return timezone
