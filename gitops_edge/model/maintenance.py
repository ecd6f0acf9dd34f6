"""Maintenance windows: a cron schedule, read as a Kubernetes CronJob's, in a time zone, that
opens a window of a fixed duration. Parsing with errors that say what to fix, and the two
questions the planner asks: is a window open at time t, and when does the next one open.

Schedules follow robfig/cron v3's standard parser, which Kubernetes uses: 5 fields (minute hour
day-of-month month day-of-week), each `*` or `?`, a number, a name (JAN-DEC, SUN-SAT, any case),
a range `a-b`, a list `a,b`, or a step `*/n`, `a-b/n`, `a/n` (= a-max/n); day-of-week 0-6 (7 is
also Sunday); the descriptors @yearly @annually @monthly @weekly @daily @midnight @hourly; a
`CRON_TZ=`/`TZ=` prefix instead of `timeZone`. When both day fields are restricted a day matches
either; `*`/`?` (without a step above 1) in either makes a day match both. `@every` is refused:
it has no fixed start to place a window. This module turns a schedule into those sets and a
canonical expression; the cronsim library evaluates it (next and previous start, DST).
Durations: `90m`, `4h`, `1h30m`, `45s`.
Pure functions. No side effects (time zones come from the system or the `tzdata` package).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_STEP_ENDS = (59, 23, 31, 12, 6)  # where `*/n` and `a/n` end (robfig: weekdays are 0-6)
_NAMES = ("minute", "hour", "day of month", "month", "day of week")
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {name: i for i, name in enumerate(_MONTH_NAMES, start=1)}
_WEEKDAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
_SYMBOLS = {3: (_MONTHS, " or a name (JAN-DEC)"), 4: (_WEEKDAYS, " or a name (SUN-SAT)")}
_DESCRIPTORS = {  # robfig/cron's, case-sensitive as there
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_ZONE_PREFIXES = ("CRON_TZ=", "TZ=")
_DURATION = re.compile(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
SEARCH_DAYS = 400  # a schedule that opens no window in this many days is rejected


@dataclass(frozen=True, slots=True)
class Window:
    schedule: str  # as written, without a CRON_TZ=/TZ= prefix
    duration_seconds: int
    time_zone: str
    expression: str  # the canonical 5-field expression cronsim evaluates

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


def _value(text: str, index: int, part: str) -> int:
    names, named = _SYMBOLS.get(index, ({}, ""))
    if text.isdigit():
        return int(text)
    if text.upper() in names:
        return names[text.upper()]
    raise ValueError(f"{_NAMES[index]} {part!r} is not a number{named}, a-b, */n, * or ?")


def _field(text: str, index: int) -> tuple[frozenset[int], bool]:
    """A field's values and whether robfig/cron counts it as a star (for the day rule)."""
    low, high = _RANGES[index]
    out: set[int] = set()
    star = False
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        if (step_text and not step_text.isdigit()) or step_text == "0":
            raise ValueError(f"{_NAMES[index]} {part!r}: the step after / must be a number > 0")
        step = int(step_text) if step_text else 1
        bounds = base.split("-")
        if base in ("*", "?"):
            start, end = low, _STEP_ENDS[index]
            star = star or step == 1
        elif len(bounds) == 2:
            start, end = (_value(b, index, part) for b in bounds)
        elif len(bounds) == 1:
            start = end = _value(base, index, part)
            if step_text:
                end = max(start, _STEP_ENDS[index])
        else:
            raise ValueError(f"{_NAMES[index]} {part!r} is not a number, a-b, */n, * or ?")
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ValueError(f"{_NAMES[index]} {part!r} is outside {low}-{high}")
        out.update(range(start, end + 1, step))
    return frozenset(out), star


def _expression(schedule: str) -> str:
    """The canonical expression: `*` where robfig/cron sees a star, else the values listed, so
    cronsim's day rule (AND when a day field starts with `*`) is robfig's."""
    if schedule.startswith("@every"):
        raise ValueError(
            f"schedule {schedule!r}: @every has no fixed start to place a window: use a calendar "
            "schedule such as '0 */6 * * *' or '@daily'"
        )
    if schedule.startswith("@"):
        if schedule not in _DESCRIPTORS:
            raise ValueError(f"schedule {schedule!r} is not one of {', '.join(_DESCRIPTORS)}")
        schedule = _DESCRIPTORS[schedule]
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(
            f"schedule {schedule!r} needs 5 fields: minute hour day-of-month month day-of-week "
            "(e.g. '0 2 * * *' for 02:00 every day, '0 2 * * SAT' or '@daily')"
        )
    out = []
    for index, text in enumerate(fields):
        values, star = _field(text, index)
        if index == 4:
            values = frozenset(v % 7 for v in values)  # 7 is Sunday too
        out.append("*" if star else ",".join(str(v) for v in sorted(values)))
    return " ".join(out)


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"time zone {name!r} is unknown: use an IANA name such as Asia/Shanghai or UTC"
        ) from None
    return name


def parse_window(schedule: str, duration: str, time_zone: str | None = None) -> Window:
    """A window from its three fields (`time_zone` None: not given, so a CRON_TZ=/TZ= prefix
    or UTC); ValueError names the field and the fix."""
    cron = schedule.strip()
    zone = time_zone
    if cron.startswith(_ZONE_PREFIXES):
        prefix, _, cron = cron.partition(" ")
        cron = cron.strip()
        if time_zone is not None:
            raise ValueError(
                f"schedule {schedule!r}: cannot use both timeZone and CRON_TZ= or TZ= in the "
                "schedule (Kubernetes refuses both too): keep timeZone, drop the prefix"
            )
        zone = prefix.partition("=")[2]
    window = Window(
        schedule=cron,
        duration_seconds=parse_duration(duration),
        time_zone=_zone(zone or "UTC"),
        expression=_expression(cron),
    )
    try:
        CronSim(window.expression, datetime(2000, 1, 1))  # cronsim's own check (30 February)
        opens = next_start(window, 0.0) is not None or next_start(window, 1.8e9) is not None
    except CronSimError:
        opens = False
    if not opens:
        raise ValueError(f"schedule {schedule!r} never opens a window (e.g. 31 February)")
    return window


def next_start(window: Window, after: float) -> float | None:
    """The first window start strictly after `after` (epoch seconds), within SEARCH_DAYS."""
    starts = CronSim(window.expression, datetime.fromtimestamp(after, ZoneInfo(window.time_zone)))
    for start in starts:
        t = start.timestamp()
        if t > after + SEARCH_DAYS * 86400:
            return None
        if t > after:  # a repeated local hour (DST) can give an earlier instant: skip it
            return t
    return None


def open_at(window: Window, t: float) -> float | None:
    """The start of the window open at `t` (start ≤ t < start + duration), or None: the first
    start after t − duration, if it is not after t (searched forward, so a repeated local hour
    at a daylight-saving change is judged by the instant, not the wall clock)."""
    start = next_start(window, t - window.duration_seconds)
    return start if start is not None and start <= t else None
