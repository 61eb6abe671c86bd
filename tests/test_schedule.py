"""opencdm.schedule: CDM's schedulerConfig calendar and catch-up policy, with explicit times only."""

from __future__ import annotations

import pickle
from dataclasses import FrozenInstanceError
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from opencdm.errors import InvalidInput
from opencdm.schedule import Schedule

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def make(cycle_type: str, cycle: int | str, start: str, run_at: str = "", stop: str = "", tz=UTC) -> Schedule:
    schedule = Schedule.parse({
        "schedulerConfig.isSchedulerJob": "true",
        "schedulerConfig.cycleType": cycle_type,
        "schedulerConfig.cycle": str(cycle),
        "schedulerConfig.runAt": run_at,
        "schedulerConfig.startDate": start,
        "schedulerConfig.stopDate": stop,
        "schedulerConfig.disposableType": "NONE",
    }, tz)
    assert schedule is not None
    return schedule


def at(text: str, tz=UTC) -> datetime:
    """A wall-clock time in ``tz`` (fold 0)."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)


def runs(schedule: Schedule, after: datetime, count: int, fmt: str = "%Y-%m-%d %H:%M:%S") -> list[str]:
    """The next ``count`` planned times after ``after``, as wall-clock text in the schedule's zone."""
    found = []
    t = after
    for _ in range(count):
        t = schedule.next_after(t)
        if t is None:
            break
        assert t.tzinfo is schedule.start.tzinfo
        found.append(t.strftime(fmt))
    return found


def utc(t: datetime | None) -> datetime | None:
    """Compare in UTC: == between zones is always False for a time in a repeated hour (PEP 495)."""
    return None if t is None else t.astimezone(UTC)


# -- parsing ------------------------------------------------------------------------------------

@pytest.mark.parametrize("flag", [None, "", "false", "FALSE", False])
def test_not_a_scheduled_job(flag):
    driver = {"schedulerConfig.cycleType": "day", "schedulerConfig.cycle": "1"}
    if flag is not None:
        driver["schedulerConfig.isSchedulerJob"] = flag
    assert Schedule.parse(driver, UTC) is None
    assert Schedule.parse({}, UTC) is None


def test_parse_strings_and_json_scalars():
    s = make("Hour", " 2 ", "2024-01-01 10:00:00", run_at=" 57, 27 ", stop="2024-02-01 00:00:00", tz=SHANGHAI)
    assert (s.cycle_type, s.cycle, s.run_at) == ("hour", 2, (27, 57))
    assert s.start == datetime(2024, 1, 1, 10, tzinfo=SHANGHAI) and s.start.tzinfo is SHANGHAI
    assert s.stop == datetime(2024, 2, 1, tzinfo=SHANGHAI)
    json = Schedule.parse({"schedulerConfig.isSchedulerJob": True, "schedulerConfig.cycleType": "week",
                           "schedulerConfig.cycle": 2, "schedulerConfig.runAt": "FRI,mon,Wednesday",
                           "schedulerConfig.startDate": "2024-01-03 08:00:00"}, UTC)
    assert (json.cycle, json.run_at, json.stop) == (2, ("mon", "wed", "fri"), None)
    month = Schedule.parse({"schedulerConfig.isSchedulerJob": "true", "schedulerConfig.cycleType": "month",
                            "schedulerConfig.cycle": 1.0, "schedulerConfig.runAt": [31, "1", 15],
                            "schedulerConfig.startDate": "2024-01-10 06:00:00"}, UTC)
    assert month.run_at == (1, 15, 31)


def test_run_at_defaults_and_ignored():
    start = "2024-01-03 08:15:00"  # a Wednesday
    assert make("hour", 1, start).run_at == (15,)
    assert make("week", 1, start).run_at == ("wed",)
    assert make("month", 1, start).run_at == (3,)
    assert make("minute", 5, start, run_at="1,2").run_at == ()
    assert make("day", 1, start, run_at="mon").run_at == ()


def test_plain_frozen_data():
    s = make("week", 2, "2024-01-03 08:00:00", run_at="mon,wed,fri", tz=BERLIN)
    assert pickle.loads(pickle.dumps(s)) == s
    with pytest.raises(FrozenInstanceError):
        s.cycle = 3  # type: ignore[misc]
    assert Schedule("week", 2, ("fri", "mon", "wed"), at("2024-01-03 08:00:00", BERLIN)) == s


BASE = {"isSchedulerJob": "true", "cycleType": "day", "cycle": "1", "runAt": "",
        "startDate": "2024-01-01 09:00:00", "stopDate": ""}


@pytest.mark.parametrize(("changes", "name"), [
    ({"isSchedulerJob": "maybe"}, "isSchedulerJob"),
    ({"cycleType": ""}, "cycleType"),
    ({"cycleType": "year"}, "cycleType"),
    ({"cycleType": 3}, "cycleType"),
    ({"cycle": ""}, "cycle"),
    ({"cycle": "0"}, "cycle"),
    ({"cycle": "-1"}, "cycle"),
    ({"cycle": "1.5"}, "cycle"),
    ({"cycle": "ten"}, "cycle"),
    ({"cycle": True}, "cycle"),
    ({"cycle": "2147483648"}, "cycle"),
    ({"cycleType": "hour", "runAt": "60"}, "runAt"),
    ({"cycleType": "hour", "runAt": "-1"}, "runAt"),
    ({"cycleType": "hour", "runAt": "27,27"}, "runAt"),
    ({"cycleType": "hour", "runAt": "mon"}, "runAt"),
    ({"cycleType": "hour", "runAt": "1.5"}, "runAt"),
    ({"cycleType": "hour", "runAt": True}, "runAt"),
    ({"cycleType": "week", "runAt": "mon,MON"}, "runAt"),
    ({"cycleType": "week", "runAt": "mon,xyz"}, "runAt"),
    ({"cycleType": "week", "runAt": "1"}, "runAt"),
    ({"cycleType": "week", "runAt": 1}, "runAt"),
    ({"cycleType": "month", "runAt": "0"}, "runAt"),
    ({"cycleType": "month", "runAt": "32"}, "runAt"),
    ({"cycleType": "month", "runAt": "1,15,1"}, "runAt"),
    ({"cycleType": "month", "runAt": "fri"}, "runAt"),
    # 31 and 30 never occur in February, and every 12 months from February is always February.
    ({"cycleType": "month", "cycle": "12", "runAt": "30,31", "startDate": "2024-02-01 00:00:00"}, "runAt"),
    # Every 48 months from February 2025 never reaches a leap year.
    ({"cycleType": "month", "cycle": "48", "runAt": "29", "startDate": "2025-02-01 00:00:00"}, "runAt"),
    ({"startDate": ""}, "startDate"),
    ({"startDate": "2024-01-01"}, "startDate"),
    ({"startDate": "2024-01-01 09:00"}, "startDate"),
    ({"startDate": "2024-01-01T09:00:00"}, "startDate"),
    ({"startDate": "2024/01/01 09:00:00"}, "startDate"),
    ({"startDate": "2024-13-01 09:00:00"}, "startDate"),
    ({"startDate": "2023-02-29 09:00:00"}, "startDate"),
    ({"startDate": "2024-01-01 24:00:00"}, "startDate"),
    ({"startDate": 1704099600000}, "startDate"),
    ({"stopDate": "tomorrow"}, "stopDate"),
    ({"stopDate": "2024-01-01 08:59:59"}, "stopDate"),
])
def test_parse_errors_name_the_input(changes, name):
    driver = {"schedulerConfig." + key: value for key, value in {**BASE, **changes}.items()}
    with pytest.raises(InvalidInput) as caught:
        Schedule.parse(driver, SHANGHAI)
    assert caught.value.code == "Cdm.0014"
    assert f"schedulerConfig.{name}" in str(caught.value)


def test_month_29_every_12_months_waits_for_a_leap_year():
    s = make("month", 12, "2023-02-01 00:00:00", run_at="29")
    assert runs(s, at("2023-01-01 00:00:00"), 2) == ["2024-02-29 00:00:00", "2028-02-29 00:00:00"]


def test_stop_equal_to_start_runs_once():
    s = make("day", 1, "2024-01-01 09:00:00", stop="2024-01-01 09:00:00")
    assert runs(s, at("2023-12-31 00:00:00"), 3) == ["2024-01-01 09:00:00"]


# -- the calendar, per cycleType ------------------------------------------------------------------

def test_minute():
    s = make("minute", 10, "2024-01-01 00:00:00")
    assert runs(s, at("2023-06-01 00:00:00"), 3) == ["2024-01-01 00:00:00", "2024-01-01 00:10:00",
                                                    "2024-01-01 00:20:00"]
    assert s.next_after(at("2024-01-01 00:15:00")) == at("2024-01-01 00:20:00")
    assert s.next_after(at("2024-01-01 00:20:00")) == at("2024-01-01 00:30:00")  # strictly after
    assert s.next_after(at("2024-03-05 07:41:13")) == at("2024-03-05 07:50:00")


@pytest.mark.parametrize("cycle", [1, 2, 3])
def test_minute_cycles_under_five_are_allowed(cycle):
    s = make("minute", cycle, "2024-01-01 00:00:30", tz=SHANGHAI)
    expected = [f"2024-01-01 00:{cycle * k:02d}:30" for k in range(4)]
    assert runs(s, at("2024-01-01 00:00:00", SHANGHAI), 4) == expected


def test_hour_run_at_27_57():
    s = make("hour", 1, "2024-01-01 10:30:00", run_at="27,57")
    assert runs(s, at("2024-01-01 00:00:00"), 5) == [
        "2024-01-01 10:57:00", "2024-01-01 11:27:00", "2024-01-01 11:57:00",
        "2024-01-01 12:27:00", "2024-01-01 12:57:00"]


def test_hour_cycle_3_counts_from_start_hour():
    s = make("hour", 3, "2024-01-01 22:00:00", run_at="57,27", tz=SHANGHAI)
    assert runs(s, at("2024-01-01 00:00:00", SHANGHAI), 5) == [
        "2024-01-01 22:27:00", "2024-01-01 22:57:00", "2024-01-02 01:27:00",
        "2024-01-02 01:57:00", "2024-01-02 04:27:00"]
    assert s.next_after(at("2024-01-05 12:00:00", SHANGHAI)) == at("2024-01-05 13:27:00", SHANGHAI)


def test_hour_without_run_at_uses_start_minute_and_second():
    s = make("hour", 2, "2024-01-01 10:15:20")
    assert runs(s, at("2024-01-01 10:15:20"), 2) == ["2024-01-01 12:15:20", "2024-01-01 14:15:20"]


def test_day_start_passed_today_runs_tomorrow():
    s = make("day", 1, "2024-01-01 09:00:00")
    assert s.next_after(at("2024-01-05 10:00:00")) == at("2024-01-06 09:00:00")
    assert s.next_after(at("2024-01-05 08:59:59")) == at("2024-01-05 09:00:00")


def test_day_cycle_3():
    s = make("day", 3, "2024-02-27 09:00:00")
    assert runs(s, at("2024-01-01 00:00:00"), 4) == ["2024-02-27 09:00:00", "2024-03-01 09:00:00",
                                                    "2024-03-04 09:00:00", "2024-03-07 09:00:00"]


def test_day_in_shanghai():
    s = make("day", 1, "2024-01-01 09:00:00", tz=SHANGHAI)
    nxt = s.next_after(datetime(2024, 1, 1, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
    assert utc(nxt) == datetime(2024, 1, 2, 1, 0, tzinfo=UTC)
    assert nxt.strftime("%Y-%m-%d %H:%M:%S%z") == "2024-01-02 09:00:00+0800"


def test_week_mon_wed_fri_every_2_weeks():
    s = make("week", 2, "2024-01-03 08:00:00", run_at="mon,wed,fri")  # Wednesday; Monday 1st is skipped
    assert runs(s, at("2024-01-01 00:00:00"), 7, "%a %Y-%m-%d %H:%M") == [
        "Wed 2024-01-03 08:00", "Fri 2024-01-05 08:00",
        "Mon 2024-01-15 08:00", "Wed 2024-01-17 08:00", "Fri 2024-01-19 08:00",
        "Mon 2024-01-29 08:00", "Wed 2024-01-31 08:00"]
    assert s.next_after(at("2024-01-08 00:00:00")) == at("2024-01-15 08:00:00")  # off week
    assert s.next_after(at("2024-03-01 09:00:00")) == at("2024-03-11 08:00:00")


def test_week_without_run_at_uses_start_weekday():
    s = make("week", 1, "2024-01-04 18:30:00")  # Thursday
    assert runs(s, at("2024-01-01 00:00:00"), 2) == ["2024-01-04 18:30:00", "2024-01-11 18:30:00"]


def test_week_days_are_local_days():
    # Monday 07:00 in Shanghai is Sunday 23:00 UTC.
    s = make("week", 1, "2024-01-01 07:00:00", run_at="mon", tz=SHANGHAI)
    nxt = s.next_after(datetime(2024, 1, 6, tzinfo=UTC))
    assert utc(nxt) == datetime(2024, 1, 7, 23, tzinfo=UTC)
    assert nxt.strftime("%a %H:%M") == "Mon 07:00"


def test_month_1_15_31_skips_missing_days():
    s = make("month", 1, "2024-01-10 06:00:00", run_at="1,15,31")
    assert runs(s, at("2024-01-01 00:00:00"), 10, "%Y-%m-%d") == [
        "2024-01-15", "2024-01-31", "2024-02-01", "2024-02-15",  # no Feb 31
        "2024-03-01", "2024-03-15", "2024-03-31", "2024-04-01", "2024-04-15",  # no Apr 31
        "2024-05-01"]


def test_month_cycle_2_day_31():
    s = make("month", 2, "2024-01-01 00:00:00", run_at="31", tz=SHANGHAI)
    # January, March, May, July, September (30 days), November (30 days), January...
    assert runs(s, at("2023-12-01 00:00:00", SHANGHAI), 5, "%Y-%m-%d") == [
        "2024-01-31", "2024-03-31", "2024-05-31", "2024-07-31", "2025-01-31"]


def test_month_without_run_at_uses_start_day():
    s = make("month", 3, "2024-01-20 12:00:00")
    assert runs(s, at("2024-01-20 12:00:00"), 2) == ["2024-04-20 12:00:00", "2024-07-20 12:00:00"]


def test_start_in_the_future():
    s = make("hour", 1, "2030-05-01 00:40:00", run_at="10,50")
    assert s.next_after(at("2024-01-01 00:00:00")) == at("2030-05-01 00:50:00")
    assert s.latest_at_or_before(at("2030-05-01 00:49:59")) is None
    assert s.due(None, at("2024-01-01 00:00:00")) == (None, at("2030-05-01 00:50:00"))


def test_stop_date_ends_it():
    s = make("day", 1, "2024-01-01 09:00:00", stop="2024-01-03 09:00:00")
    assert runs(s, at("2023-12-31 00:00:00"), 5, "%Y-%m-%d") == ["2024-01-01", "2024-01-02", "2024-01-03"]
    s = make("day", 1, "2024-01-01 09:00:00", stop="2024-01-03 08:59:59")
    assert runs(s, at("2023-12-31 00:00:00"), 5, "%Y-%m-%d") == ["2024-01-01", "2024-01-02"]
    assert s.next_after(at("2030-01-01 00:00:00")) is None
    assert s.latest_at_or_before(at("2030-01-01 00:00:00")) == at("2024-01-02 09:00:00")


def test_times_in_other_zones_are_compared_in_utc():
    s = make("day", 1, "2024-01-01 09:00:00", tz=SHANGHAI)
    assert utc(s.next_after(at("2024-01-01 08:59:00", BERLIN))) == datetime(2024, 1, 2, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        s.next_after(datetime(2024, 1, 1))


# -- DST (Europe/Berlin: 2024-03-31 02:00 -> 03:00, 2024-10-27 03:00 -> 02:00) --------------------

def test_daily_0230_through_spring_forward():
    s = make("day", 1, "2024-03-29 02:30:00", tz=BERLIN)
    assert runs(s, at("2024-03-29 00:00:00", BERLIN), 4, "%m-%d %H:%M%z") == [
        "03-29 02:30+0100", "03-30 02:30+0100",
        "03-31 03:30+0200",  # 02:30 does not exist that day: shifted forward by the gap
        "04-01 02:30+0200"]


def test_daily_0230_through_fall_back_runs_once():
    s = make("day", 1, "2024-10-26 02:30:00", tz=BERLIN)
    got = []
    t = at("2024-10-26 00:00:00", BERLIN)
    for _ in range(3):
        t = s.next_after(t)
        got.append(utc(t))
    assert got == [datetime(2024, 10, 26, 0, 30, tzinfo=UTC),
                   datetime(2024, 10, 27, 0, 30, tzinfo=UTC),  # first 02:30 (CEST); not again at 01:30 UTC
                   datetime(2024, 10, 28, 1, 30, tzinfo=UTC)]


def test_start_inside_the_gap():
    s = make("day", 1, "2024-03-31 02:30:00", tz=BERLIN)
    assert runs(s, at("2024-03-30 00:00:00", BERLIN), 2, "%m-%d %H:%M%z") == ["03-31 03:30+0200",
                                                                            "04-01 02:30+0200"]


def test_hourly_counts_elapsed_hours_across_dst():
    s = make("hour", 1, "2024-10-27 00:00:00", run_at="30", tz=BERLIN)
    got = [utc(t) for t in _iterate(s, at("2024-10-27 00:00:00", BERLIN), 5)]
    assert [t.hour for t in got] == [22, 23, 0, 1, 2]  # 00:30, 01:30, 02:30 CEST, 02:30 CET, 03:30 CET
    assert all(b - a == timedelta(hours=1) for a, b in zip(got, got[1:]))
    s = make("hour", 1, "2024-03-31 00:00:00", run_at="30", tz=BERLIN)
    assert runs(s, at("2024-03-31 00:00:00", BERLIN), 3, "%H:%M%z") == ["00:30+0100", "01:30+0100", "03:30+0200"]


def test_minute_cycle_is_elapsed_time_across_dst():
    s = make("minute", 45, "2024-03-31 01:00:00", tz=BERLIN)
    assert runs(s, at("2024-03-31 00:00:00", BERLIN), 3, "%H:%M%z") == ["01:00+0100", "01:45+0100", "03:30+0200"]


def test_week_and_month_keep_wall_time_across_dst():
    week = make("week", 1, "2024-03-25 09:00:00", run_at="mon", tz=BERLIN)
    assert runs(week, at("2024-03-24 00:00:00", BERLIN), 2, "%m-%d %H:%M%z") == ["03-25 09:00+0100",
                                                                               "04-01 09:00+0200"]
    month = make("month", 1, "2024-03-15 09:00:00", tz=BERLIN)
    assert runs(month, at("2024-03-01 00:00:00", BERLIN), 2, "%m-%d %H:%M%z") == ["03-15 09:00+0100",
                                                                                "04-15 09:00+0200"]


def _iterate(s: Schedule, t: datetime, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        t = s.next_after(t)
        found.append(t)
    return found


# -- the catch-up policy --------------------------------------------------------------------------

def test_down_across_five_runs_runs_one_then_the_next():
    s = make("day", 1, "2024-01-01 09:00:00", tz=SHANGHAI)
    last = at("2024-01-01 09:00:00", SHANGHAI)
    now = at("2024-01-06 12:00:00", SHANGHAI)  # missed Jan 2, 3, 4, 5 and 6
    run_now, nxt = s.due(last, now)
    assert run_now == at("2024-01-06 09:00:00", SHANGHAI)  # only the latest missed one
    assert nxt == at("2024-01-07 09:00:00", SHANGHAI)
    # Once started, the same planned time is never returned again.
    assert s.due(run_now, now) == (None, nxt)
    assert s.due(run_now, at("2024-01-07 08:59:59", SHANGHAI)) == (None, nxt)
    assert s.due(run_now, nxt) == (nxt, at("2024-01-08 09:00:00", SHANGHAI))


def test_due_on_time_and_not_twice():
    s = make("minute", 10, "2024-01-01 00:00:00")
    assert s.due(at("2024-01-01 00:00:00"), at("2024-01-01 00:10:00")) == (at("2024-01-01 00:10:00"),
                                                                           at("2024-01-01 00:20:00"))
    assert s.due(at("2024-01-01 00:10:00"), at("2024-01-01 00:10:00")) == (None, at("2024-01-01 00:20:00"))


def test_due_without_last_catches_nothing_up():
    s = make("day", 1, "2024-01-01 09:00:00")
    assert s.due(None, at("2024-01-05 10:00:00")) == (None, at("2024-01-06 09:00:00"))


def test_due_with_enable_time_catches_up_a_missed_first_run():
    s = make("day", 1, "2024-01-01 09:00:00")
    enabled = at("2024-01-01 08:00:00")
    assert s.due(enabled, at("2024-01-01 10:00:00")) == (at("2024-01-01 09:00:00"), at("2024-01-02 09:00:00"))
    created_late = at("2024-01-01 10:00:00")  # start passed when the job was created: tomorrow
    assert s.due(created_late, at("2024-01-01 10:00:01")) == (None, at("2024-01-02 09:00:00"))


def test_due_when_the_clock_went_back():
    s = make("day", 1, "2024-01-01 09:00:00")
    assert s.due(at("2024-01-05 09:00:00"), at("2024-01-04 12:00:00")) == (None, at("2024-01-06 09:00:00"))


def test_due_after_stop_runs_the_last_missed_once():
    s = make("day", 1, "2024-01-01 09:00:00", stop="2024-01-04 12:00:00")
    assert s.due(at("2024-01-01 09:00:00"), at("2024-01-10 00:00:00")) == (at("2024-01-04 09:00:00"), None)
    assert s.due(at("2024-01-04 09:00:00"), at("2024-01-10 00:00:00")) == (None, None)


@pytest.mark.parametrize("tz", [UTC, SHANGHAI, BERLIN])
def test_a_supervisor_loop_with_an_outage(tz):
    """Ticking every 7 minutes through a week (DST change in Berlin), with the server down for a day
    and a half: every planned time outside the outage runs once, the outage yields one run."""
    s = make("hour", 2, "2024-03-28 00:00:00", run_at="27,57", tz=tz)
    begin, end = at("2024-03-28 00:00:00", tz), at("2024-04-04 00:00:00", tz)
    down_from, down_to = utc(at("2024-03-30 06:00:00", tz)), utc(at("2024-03-31 18:00:00", tz))
    last = begin
    started = []
    now = utc(begin)
    while now < utc(end):
        if not down_from <= now < down_to:
            run_now, nxt = s.due(last, now)
            assert nxt is not None and utc(nxt) > now
            if run_now is not None:
                started.append(utc(run_now))
                last = run_now
        now += timedelta(minutes=7)
    planned = [utc(t) for t in _until(s, begin, end)]
    outside = [t for t in planned if not down_from <= t < down_to]
    missed = [t for t in planned if down_from <= t < down_to]
    assert len(missed) > 5
    assert started == sorted(set(started))
    assert set(started) - set(outside) == {missed[-1]}
    assert set(outside) <= set(started)


def _until(s: Schedule, t: datetime, end: datetime) -> list[datetime]:
    found = []
    while (t := s.next_after(t)) is not None and utc(t) < utc(end):
        found.append(t)
    return found


def test_describe():
    assert make("week", 2, "2024-01-03 08:00:00", run_at="mon,wed,fri", tz=SHANGHAI).describe() == (
        "every 2 weeks on mon, wed, fri at 08:00:00, from 2024-01-03 08:00:00 forever (Asia/Shanghai)")
    assert make("hour", 1, "2024-01-01 10:00:00", run_at="27,57", stop="2024-02-01 00:00:00").describe() == (
        "every hour at minutes 27, 57, from 2024-01-01 10:00:00 until 2024-02-01 00:00:00 (UTC)")
    assert make("minute", 10, "2024-01-01 00:00:00").describe().startswith("every 10 minutes, from ")
    assert "on days 1, 15, 31 at 06:00:00" in make("month", 1, "2024-01-10 06:00:00", run_at="1,15,31").describe()
