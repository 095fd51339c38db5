"""When an EventBridge Scheduler expression is next due: rate(...), cron(...) and at(...).

The local ticker asks ``next_fire(expression, timezone, after)``. Cron follows Scheduler's six
fields (minutes hours day-of-month month day-of-week year; day-of-week 1-7 = SUN-SAT), with
``*``, ``?``, lists, ranges, steps and names; ``L``, ``W`` and ``#`` are refused (``ValueError``)
since the service never writes them (shared/schedule_expressions.py validates what it stores).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_CRON = re.compile(r"^cron\(([^()]+)\)$")
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}
_DAYS = {d: i + 1 for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_LIMIT = timedelta(days=366 * 5)


def _values(field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    if field in ("*", "?"):
        return set(range(low, high + 1))
    out: set[int] = set()
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", ""):
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _number(first, names), _number(last, names)
        else:
            start = _number(base, names)
            end = high if step_text else start
        if not low <= start <= high or not low <= end <= high or step < 1:
            raise ValueError(f"cron field {field!r} is out of range {low}-{high}")
        out.update(range(start, end + 1, step))
    return out


def _number(text: str, names: dict[str, int]) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise ValueError(f"unsupported cron value {text!r}")
    return int(text)


def _cron_matcher(
    body: str,
) -> tuple[set[int], set[int], set[int] | None, set[int], set[int] | None, set[int]]:
    parts = body.split()
    if len(parts) != 6:
        raise ValueError("a cron expression has 6 fields")
    minutes = _values(parts[0], 0, 59, {})
    hours = _values(parts[1], 0, 23, {})
    dom = None if parts[2] == "?" else _values(parts[2], 1, 31, {})
    months = _values(parts[3], 1, 12, _MONTHS)
    dow = None if parts[4] == "?" else _values(parts[4], 1, 7, _DAYS)
    years = _values(parts[5], 1970, 2199, {})
    return minutes, hours, dom, months, dow, years


def next_fire(
    expression: str, timezone: str, after: datetime, *, created: datetime | None = None
) -> datetime | None:
    """The first time strictly after ``after`` the schedule fires (aware, UTC), or None (never)."""
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        period = timedelta(seconds=int(rate.group(1)) * _UNITS[rate.group(2).rstrip("s")])
        origin = created or after
        if after < origin:
            return origin + period
        elapsed = (after - origin) // period
        return (origin + (elapsed + 1) * period).astimezone(UTC)
    at = _AT.match(text)
    if at:
        when = datetime.fromisoformat(at.group(1)).replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)
        return when if when > after else None
    cron = _CRON.match(text)
    if not cron:
        raise ValueError(f"not a schedule expression: {expression!r}")
    minutes, hours, dom, months, dow, years = _cron_matcher(cron.group(1))
    zone = ZoneInfo(timezone)
    local = after.astimezone(zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = local + _LIMIT
    while local < end:
        weekday = (local.isoweekday() % 7) + 1  # SUN=1 ... SAT=7
        day_ok = (dom is None or local.day in dom) and (dow is None or weekday in dow)
        if local.year in years and local.month in months and day_ok:
            if local.hour in hours:
                if local.minute in minutes:
                    return local.astimezone(UTC)
                local += timedelta(minutes=1)
            else:
                local = local.replace(minute=0) + timedelta(hours=1)
        else:
            local = local.replace(hour=0, minute=0) + timedelta(days=1)
    return None
