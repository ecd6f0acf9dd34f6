"""Maintenance-window schedules read like a Kubernetes CronJob's (robfig/cron v3's standard
parser): month and weekday names in any case, `?` for `*`, the @ descriptors, `CRON_TZ=`/`TZ=`
prefixes, ranges and steps; each form evaluated against a known time (next start, open window),
and what Kubernetes rejects is rejected with a message that says what to write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gitops_edge.model.maintenance import next_start, open_at, parse_window


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def iso(t: float | None) -> str:
    assert t is not None
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M")


THURSDAY = "2026-01-01T00:00:00"  # a Thursday, 1 January


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("0 2 * * MON", "2026-01-05T02:00"),  # the next Monday
        ("0 2 * * mon", "2026-01-05T02:00"),  # names in any case, as robfig/cron
        ("0 2 * * Mon-Fri", "2026-01-01T02:00"),  # a range of names
        ("0 2 * * SAT,SUN", "2026-01-03T02:00"),
        ("0 3 1 JAN *", "2026-01-01T03:00"),
        ("0 3 1 feb,JUL *", "2026-02-01T03:00"),
        ("0 3 1 MAR-MAY *", "2026-03-01T03:00"),
        ("0 2 ? * SUN", "2026-01-04T02:00"),  # ? is *
        ("0 2 * * TUE/2", "2026-01-01T02:00"),  # TUE-SAT/2: Tue, Thu, Sat
        ("30 1 * * 6,0", "2026-01-03T01:30"),  # numbers as before
        ("*/20 * * * *", "2026-01-01T00:20"),
        ("5/20 * * * *", "2026-01-01T00:05"),  # N/step is N-max/step
        ("0 22-23/1 * * *", "2026-01-01T22:00"),
        ("@daily", "2026-01-02T00:00"),
        ("@midnight", "2026-01-02T00:00"),
        ("@hourly", "2026-01-01T01:00"),
        ("@weekly", "2026-01-04T00:00"),  # Sunday 00:00
        ("@monthly", "2026-02-01T00:00"),
        ("@yearly", "2027-01-01T00:00"),
        ("@annually", "2027-01-01T00:00"),
    ],
)
def test_kubernetes_cron_forms_are_accepted_and_evaluated(schedule: str, expected: str) -> None:
    window = parse_window(schedule, "1h", "UTC")
    assert iso(next_start(window, ts(THURSDAY))) == expected


def test_a_step_over_weekday_names_stops_at_saturday_as_in_kubernetes() -> None:
    """robfig/cron's weekdays are 0-6: `FRI/2` is Friday only (FRI-SAT/2), never Sunday."""
    window = parse_window("0 2 * * FRI/2", "1h", "UTC")
    starts = []
    t = ts(THURSDAY)
    for _ in range(3):
        t = next_start(window, t) or 0.0
        starts.append(iso(t))
    assert starts == ["2026-01-02T02:00", "2026-01-09T02:00", "2026-01-16T02:00"]


def test_day_fields_match_either_unless_one_is_a_star_as_in_kubernetes() -> None:
    """robfig/cron: a day matches both day fields when either is `*` or `?`; a step over the
    star (`*/2`) makes it a restriction, and then either field matches (OR)."""
    either = parse_window("0 2 */2 * MON", "1h", "UTC")  # odd days or Mondays
    assert iso(next_start(either, ts("2026-01-03T03:00:00"))) == "2026-01-05T02:00"  # odd
    assert iso(next_start(either, ts("2026-01-11T03:00:00"))) == "2026-01-12T02:00"  # Monday
    both = parse_window("0 2 ? * MON", "1h", "UTC")  # Mondays only
    assert iso(next_start(both, ts("2026-01-03T03:00:00"))) == "2026-01-05T02:00"
    assert iso(next_start(both, ts("2026-01-05T03:00:00"))) == "2026-01-12T02:00"


def test_a_descriptor_window_is_open_from_its_start_for_its_duration() -> None:
    window = parse_window("@daily", "1h", "UTC")
    assert open_at(window, ts("2026-01-01T00:30:00")) == ts("2026-01-01T00:00:00")
    assert open_at(window, ts("2026-01-01T00:00:00")) == ts("2026-01-01T00:00:00")
    assert open_at(window, ts("2026-01-01T01:00:00")) is None
    weekly = parse_window("0 22 * * sat", "4h", "UTC")  # across midnight
    assert open_at(weekly, ts("2026-01-04T01:59:00")) == ts("2026-01-03T22:00:00")
    assert open_at(weekly, ts("2026-01-04T02:00:00")) is None


@pytest.mark.parametrize("prefix", ["CRON_TZ", "TZ"])
def test_a_time_zone_prefix_sets_the_zone_when_time_zone_is_not_given(prefix: str) -> None:
    window = parse_window(f"{prefix}=Asia/Shanghai 0 2 * * MON", "4h")
    assert window.time_zone == "Asia/Shanghai"
    assert iso(next_start(window, ts(THURSDAY))) == "2026-01-04T18:00"  # Mon 02:00 +08:00
    assert window.describe() == "0 2 * * MON (Asia/Shanghai) for 4h"
    daily = parse_window("CRON_TZ=Asia/Shanghai @daily", "1h")
    assert iso(next_start(daily, ts(THURSDAY))) == "2026-01-01T16:00"


def test_without_a_zone_a_window_is_in_utc() -> None:
    assert iso(next_start(parse_window("0 2 * * *", "1h"), ts(THURSDAY))) == "2026-01-01T02:00"


@pytest.mark.parametrize(
    ("schedule", "time_zone", "message"),
    [
        ("0 25 * * *", "UTC", "hour '25' is outside 0-23"),
        ("0 2 * * MONN", "UTC", "day of week 'MONN' is not a number"),
        ("0 2 * FOO *", "UTC", "month 'FOO' is not a number"),
        ("0 2 * * 1-MON-2", "UTC", "day of week '1-MON-2' is not a number"),
        ("0 2 * * */0", "UTC", "the step after / must be a number > 0"),
        ("0 2 * *", "UTC", "needs 5 fields"),
        ("0 0 2 * * *", "UTC", "needs 5 fields"),  # no seconds field, as in Kubernetes
        ("0 2 L * *", "UTC", "day of month 'L' is not a number"),  # no Quartz L/W/#
        ("0 2 * * 1#2", "UTC", "day of week '1#2' is not a number"),
        ("@DAILY", "UTC", "'@DAILY' is not one of @yearly"),
        ("@reboot", "UTC", "'@reboot' is not one of @yearly"),
        ("@every 1h", "UTC", "@every has no fixed start"),
        ("CRON_TZ=Mars/Base 0 2 * * *", None, "time zone 'Mars/Base' is unknown"),
        ("CRON_TZ=Asia/Shanghai", None, "needs 5 fields"),
        ("CRON_TZ=Asia/Shanghai 0 2 * * *", "UTC", "cannot use both timeZone and CRON_TZ"),
        ("0 0 30 2 *", "UTC", "never opens a window"),
    ],
)
def test_schedules_kubernetes_rejects_are_rejected_with_what_to_write(
    schedule: str, time_zone: str | None, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        parse_window(schedule, "1h", time_zone)
    assert message in str(caught.value)


def test_daylight_saving_a_skipped_start_opens_at_the_change_a_repeated_one_opens_once() -> None:
    window = parse_window("30 2 * * *", "1h", "Europe/Berlin")
    # 29 March 2026: 02:00 CET jumps to 03:00 CEST, 02:30 does not exist: opens at 03:00 CEST
    assert iso(next_start(window, ts("2026-03-28T23:00:00"))) == "2026-03-29T01:00"
    # 25 October 2026: 03:00 CEST falls back to 02:00 CET, 02:30 happens twice: opens once
    first = next_start(window, ts("2026-10-24T23:00:00"))
    assert iso(first) == "2026-10-25T00:30"  # 02:30 CEST
    assert iso(next_start(window, ts("2026-10-25T01:15:00"))) == "2026-10-26T01:30"
    assert open_at(window, ts("2026-10-25T01:15:00")) == first  # still the one window
