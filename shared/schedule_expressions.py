"""EventBridge Scheduler expressions and time zones (R28): validated, and when they next fire.

moto's Scheduler accepts any expression, so we check them ourselves, before anything is stored:
``rate(<n> minute|minutes|hour|hours|day|days)`` and the six-field
``cron(minutes hours day-of-month month day-of-week year)`` where exactly one of day-of-month and
day-of-week is ``?``.

``next_fire`` says when a schedule is next due (the admin API's ``next_run_at``, the local stack's
ticker): Scheduler's six cron fields (day-of-week 1-7 = SUN-SAT) with ``*``, ``?``, lists, ranges,
steps, names and the day specials ``L``, ``LW``, ``<n>W`` (day-of-month), ``L``, ``<d>L``,
``<d>#<n>`` (day-of-week); ``rate(...)`` counted from the schedule's start; ``at(...)`` once.
Pure: "now" is passed in.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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


# ---------------------------------------------------------------------------------------------
# When a schedule next fires
# ---------------------------------------------------------------------------------------------

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_MONTH_NUMBERS = {m: i + 1 for i, m in enumerate(_MONTHS.split("|"))}
_DAY_NUMBERS = {d: i + 1 for i, d in enumerate(_DAYS.split("|"))}
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
# A cron that matches nothing in five years (31 FEB ...) never fires.
_HORIZON = timedelta(days=366 * 5)

DayMatcher = Callable[[date], bool]


def _numbers(field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    if field in ("*", "?"):
        return set(range(low, high + 1))
    out: set[int] = set()
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() else 0
        if base in ("*", ""):
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _number(first, names), _number(last, names)
        else:
            start = _number(base, names)
            end = high if step_text else start
        if not low <= start <= high or not low <= end <= high or (step_text and step < 1):
            raise ValueError(f"cron field {field!r} is out of range {low}-{high}")
        out.update(range(start, end + 1, step or 1))
    return out


def _number(text: str, names: dict[str, int]) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise ValueError(f"unsupported cron value {text!r}")
    return int(text)


def _weekday(day: date) -> int:
    """Scheduler's day-of-week: SUN=1 ... SAT=7."""
    return day.isoweekday() % 7 + 1


def _last_day(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _nearest_weekday(day: date, target: int) -> int | None:
    """``<n>W``: the weekday nearest to day ``target`` of ``day``'s month, never leaving the month."""
    last = _last_day(day)
    if target > last:
        return None
    wanted = day.replace(day=target)
    if wanted.weekday() == 5:  # Saturday: the Friday before, or the Monday after on the 1st
        return target - 1 if target > 1 else target + 2
    if wanted.weekday() == 6:  # Sunday: the Monday after, or the Friday before on the last day
        return target + 1 if target < last else target - 2
    return target


def _nearest_weekday_of(target: int) -> DayMatcher:
    return lambda d: d.day == _nearest_weekday(d, target)


def _nth_weekday(weekday: int, nth: int) -> DayMatcher:
    """``<d>#<n>``: the n-th such weekday of the month."""
    return lambda d: _weekday(d) == weekday and (d.day - 1) // 7 + 1 == nth


def _last_weekday(weekday: int) -> DayMatcher:
    """``<d>L``: the month's last such weekday."""
    return lambda d: _weekday(d) == weekday and d.day + 7 > _last_day(d)


def _day_of_month(field: str) -> DayMatcher | None:
    if field == "?":
        return None
    plain: list[str] = []
    specials: list[DayMatcher] = []
    for item in field.split(","):
        if item == "L":
            specials.append(lambda d: d.day == _last_day(d))
        elif item == "LW":
            specials.append(lambda d: d.day == _nearest_weekday(d, _last_day(d)))
        elif item.endswith("W") and item[:-1].isdigit():
            specials.append(_nearest_weekday_of(int(item[:-1])))
        else:
            plain.append(item)
    days = _numbers(",".join(plain), 1, 31, {}) if plain else set()
    return lambda d: d.day in days or any(match(d) for match in specials)


def _day_of_week(field: str) -> DayMatcher | None:
    if field == "?":
        return None
    plain: list[str] = []
    specials: list[DayMatcher] = []
    for item in field.split(","):
        if item == "L":
            plain.append("7")  # L alone: the last day of the week (SAT)
        elif "#" in item:
            text, _, nth = item.partition("#")
            specials.append(_nth_weekday(_number(text, _DAY_NUMBERS), int(nth)))
        elif item.endswith("L") and len(item) > 1:
            specials.append(_last_weekday(_number(item[:-1], _DAY_NUMBERS)))
        else:
            plain.append(item)
    weekdays = _numbers(",".join(plain), 1, 7, _DAY_NUMBERS) if plain else set()
    return lambda d: _weekday(d) in weekdays or any(match(d) for match in specials)


def next_fire(
    expression: str, timezone: str, after: datetime, *, created: datetime | None = None
) -> datetime | None:
    """The first time strictly after ``after`` the schedule fires (aware, UTC), or None (never).

    A ``rate`` counts its periods from ``created`` (the schedule's start; ``after`` when not
    given). Raises ``ValueError`` for an expression that is not one.
    """
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        period = timedelta(seconds=int(rate.group(1)) * _UNITS[rate.group(2).rstrip("s")])
        if period <= timedelta(0):
            raise ValueError(f"a rate must be at least 1: {expression!r}")
        origin = created or after
        if after < origin:
            return (origin + period).astimezone(UTC)
        elapsed = (after - origin) // period
        return (origin + (elapsed + 1) * period).astimezone(UTC)
    at = _AT.match(text)
    if at:
        when = datetime.fromisoformat(at.group(1)).replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)
        return when if when > after else None
    cron = _CRON.match(text)
    if not cron:
        raise ValueError(f"not a schedule expression: {expression!r}")
    parts = cron.group(1).split()
    if len(parts) != len(_FIELDS):
        raise ValueError("a cron expression has 6 fields")
    minutes = _numbers(parts[0], 0, 59, {})
    hours = _numbers(parts[1], 0, 23, {})
    dom = _day_of_month(parts[2])
    months = _numbers(parts[3], 1, 12, _MONTH_NUMBERS)
    dow = _day_of_week(parts[4])
    years = _numbers(parts[5], 1970, 2199, {})
    zone = ZoneInfo(timezone)
    local = after.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
    end = local + _HORIZON
    while local < end:
        day = local.date()
        day_ok = (dom is None or dom(day)) and (dow is None or dow(day))
        if local.year in years and local.month in months and day_ok:
            if local.hour in hours:
                if local.minute in minutes:
                    return local.replace(tzinfo=zone).astimezone(UTC)
                local += timedelta(minutes=1)
            else:
                local = local.replace(minute=0) + timedelta(hours=1)
        else:
            local = local.replace(hour=0, minute=0) + timedelta(days=1)
    return None
