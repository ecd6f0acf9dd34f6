"""Maintenance windows: a cron schedule (5 fields, in a time zone) that opens a window of a
fixed duration. Parsing with errors that say what to fix, and the two questions the planner
asks: is a window open at time t, and when does the next one open.

Cron fields: minute hour day-of-month month day-of-week, each `*`, a number, a range `a-b`, a
list `a,b`, or a step `*/n` / `a-b/n`; day-of-week 0-7 (0 and 7 are Sunday). As in cron, when
both day fields are restricted a day matches either. Durations: `90m`, `4h`, `1h30m`, `45s`.
Pure functions. No side effects (time zones come from the system or the `tzdata` package).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = ("minute", "hour", "day of month", "month", "day of week")
_DURATION = re.compile(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
SEARCH_DAYS = 400  # a schedule that opens no window in this many days is rejected


@dataclass(frozen=True, slots=True)
class Window:
    schedule: str
    duration_seconds: int
    time_zone: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Monday … 6 = Sunday (Python's numbering)
    any_day: bool  # day of month is *
    any_weekday: bool  # day of week is *

    def describe(self) -> str:
        return f"{self.schedule} ({self.time_zone}) for {format_duration(self.duration_seconds)}"


def parse_duration(text: str) -> int:
    """`1h30m` → 5400. ValueError says what to write."""
    m = _DURATION.fullmatch(text.strip())
    if not text.strip() or m is None or not any(m.groups()):
        raise ValueError(f"duration {text!r} is not like 90m, 4h or 1h30m")
    hours, minutes, seconds = (int(g or 0) for g in m.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"duration {text!r} must be longer than 0")
    return total


def format_duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"


def _field(text: str, index: int) -> frozenset[int]:
    low, high = _RANGES[index]
    out: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        if (step_text and not step_text.isdigit()) or step_text == "0":
            raise ValueError(f"{_NAMES[index]} {part!r}: the step after / must be a number > 0")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise ValueError(f"{_NAMES[index]} {part!r} is not a number, a-b, */n or *")
            start, end = int(a), int(b)
        elif base.isdigit():
            start = end = int(base)
            if step_text:
                end = high
        else:
            raise ValueError(f"{_NAMES[index]} {part!r} is not a number, a-b, */n or *")
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ValueError(f"{_NAMES[index]} {part!r} is outside {low}-{high}")
        out.update(range(start, end + 1, step))
    return frozenset(out)


def parse_window(schedule: str, duration: str, time_zone: str = "UTC") -> Window:
    """A window from its three fields; ValueError names the field and the fix."""
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(
            f"schedule {schedule!r} needs 5 fields: minute hour day-of-month month day-of-week "
            "(e.g. '0 2 * * *' for 02:00 every day)"
        )
    sets = [_field(text, i) for i, text in enumerate(fields)]
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"time zone {time_zone!r} is unknown: use an IANA name such as Asia/Shanghai or UTC"
        ) from None
    weekdays = frozenset((d - 1) % 7 for d in sets[4])  # cron 0/7 = Sunday → Python 6
    window = Window(
        schedule=schedule,
        duration_seconds=parse_duration(duration),
        time_zone=time_zone,
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=weekdays,
        any_day=fields[2] == "*",
        any_weekday=fields[4] == "*",
    )
    if next_start(window, 0.0) is None and next_start(window, 1.8e9) is None:
        raise ValueError(f"schedule {schedule!r} never opens a window (e.g. 31 February)")
    return window


def _day_matches(window: Window, day: date) -> bool:
    if day.month not in window.months:
        return False
    in_days, in_weekdays = day.day in window.days, day.weekday() in window.weekdays
    if window.any_day or window.any_weekday:
        return in_days and in_weekdays
    return in_days or in_weekdays


def _starts_on(window: Window, day: date) -> list[float]:
    if not _day_matches(window, day):
        return []
    zone = ZoneInfo(window.time_zone)
    return [
        datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).timestamp()
        for hour in sorted(window.hours)
        for minute in sorted(window.minutes)
    ]


def next_start(window: Window, after: float) -> float | None:
    """The first window start strictly after `after` (epoch seconds), within SEARCH_DAYS."""
    zone = ZoneInfo(window.time_zone)
    first = datetime.fromtimestamp(after, zone).date()
    for offset in range(SEARCH_DAYS):
        for start in _starts_on(window, first + timedelta(days=offset)):
            if start > after:
                return start
    return None


def open_at(window: Window, t: float) -> float | None:
    """The start of the window open at `t` (start ≤ t < start + duration), or None."""
    zone = ZoneInfo(window.time_zone)
    today = datetime.fromtimestamp(t, zone).date()
    back = window.duration_seconds // 86400 + 2
    for offset in range(back + 1):
        starts = [s for s in _starts_on(window, today - timedelta(days=offset)) if s <= t]
        for start in sorted(starts, reverse=True):
            if t < start + window.duration_seconds:
                return start
    return None
