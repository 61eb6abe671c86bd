"""Golden tests for CDM's ${...} date/time macros and job variables (spec §14.1).

Expected strings were checked against Java 17's SimpleDateFormat / GregorianCalendar (Locale.US).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from opencdm.errors import InvalidInput
from opencdm.macros import check, expand, names

UTC8 = timezone(timedelta(hours=8))
NOW = datetime(2017, 10, 16, 9, 0, 0, tzinfo=UTC8)  # the docs' "now" (a Monday)
FIELD = "fromJobConfig.whereClause"


def run(text: str, now: datetime = NOW, variables=None, tz=UTC8) -> str:
    return expand(text, now, variables, tz=tz, field=FIELD)


def at(*args: int, tz=UTC8) -> datetime:
    return datetime(*args, tzinfo=tz)


# -- the spec's table, verbatim --------------------------------------------------------------------

@pytest.mark.parametrize("macro, result", [
    ("${dateformat(yyyy-MM-dd)}", "2017-10-16"),
    ("${dateformat(yyyy-MM-dd HH:mm:ss, -1, DAY)}", "2017-10-15 09:00:00"),
    ("${dateformat(yyyy-MM-dd, -1, DAY)} 00:00:00", "2017-10-15 00:00:00"),
    ("${timestamp(-10, MINUTE)}", "1508115000000"),
    ("${timestamp(dateformat(yyyyMMdd))}", "1508083200000"),
    ("${timestamp(dateformat(yyyyMMdd,-1,DAY))}", "1507996800000"),
])
def test_spec_table(macro, result):
    assert run(macro) == result


def test_several_macros_and_literal_text_kept():
    assert run("/opt/ttxx/${dateformat(yyyy-MM-dd)}/${timestamp()}") == "/opt/ttxx/2017-10-16/1508115600000"
    assert run("DS='${dateformat(yyyy-MM-dd,-1,DAY)}'") == "DS='2017-10-15'"
    assert run("time between ${timestamp(-1,DAY)} and ${timestamp()}") == \
        "time between 1508029200000 and 1508115600000"
    assert run("*${dateformat(yyyyMMdd,-1,DAY)}*") == "*20171015*"


def test_spaces_around_commas_and_inside_braces():
    assert run("${dateformat(yyyy-MM-dd,-1,DAY)}") == run("${dateformat(yyyy-MM-dd , -1 ,  DAY)}") == "2017-10-15"
    assert run("${ timestamp( ) }") == "1508115600000"


def test_text_without_macros_and_lone_dollars_are_literal():
    for text in ["", "plain", "cost $5", "a$b", "$ {x}", "$$", "}", "{x}"]:
        assert run(text) == text
    assert run("$${dateformat(yyyy)}$") == "$2017$"


# -- SimpleDateFormat patterns ---------------------------------------------------------------------

@pytest.mark.parametrize("pattern, result", [
    ("G", "AD"), ("y", "2017"), ("yy", "17"), ("yyyy", "2017"), ("yyyyy", "02017"),
    ("M", "10"), ("MM", "10"), ("MMM", "Oct"), ("MMMM", "October"), ("L", "10"), ("LLL", "Oct"),
    ("D", "289"), ("DDDD", "0289"), ("d", "16"), ("F", "3"), ("E", "Mon"), ("EEE", "Mon"), ("EEEE", "Monday"),
    ("u", "1"), ("w", "42"), ("W", "3"), ("YYYY", "2017"),
    ("a", "AM"), ("h", "9"), ("hh", "09"), ("H", "9"), ("HH", "09"), ("k", "9"), ("K", "9"),
    ("m", "0"), ("mm", "00"), ("s", "0"), ("S", "0"), ("SSS", "000"),
    ("z", "GMT+08:00"), ("Z", "+0800"), ("X", "+08"), ("XX", "+0800"), ("XXX", "+08:00"),
])
def test_pattern_letters(pattern, result):
    assert run(f"${{dateformat({pattern})}}") == result


def test_afternoon_milliseconds_and_12_24_hour_clocks():
    afternoon = at(2017, 10, 16, 21, 5, 7, 45_000)
    assert run("${dateformat(hh:mm:ss.SSS a)}", afternoon) == "09:05:07.045 PM"
    assert run("${dateformat(S SS SSSS)}", afternoon) == "45 45 0045"
    assert run("${dateformat(H k K h a)}", at(2017, 10, 16, 0, 30)) == "0 24 0 12 AM"
    assert run("${dateformat(H k K h a)}", at(2017, 10, 16, 12, 30)) == "12 12 0 12 PM"


def test_week_in_month_and_day_of_week_in_month():
    assert run("${dateformat(W F E w)}", at(2017, 11, 5, 9)) == "2 1 Sun 45"  # 1 November 2017 is a Wednesday
    assert run("${dateformat(W F E)}", at(2017, 11, 30, 9)) == "5 5 Thu"


def test_two_digit_years_are_zero_padded():
    assert run("${dateformat(yy YY, -10, YEAR)}") == "07 07"


def test_week_year_and_week_of_year_follow_locale_us():
    assert run("${dateformat(YYYY-ww yyyy-ww EEE)}", at(2017, 12, 31, 9)) == "2018-01 2017-01 Sun"
    assert run("${dateformat(YYYY-ww yyyy-ww EEE)}", at(2016, 12, 31, 9)) == "2016-53 2016-53 Sat"


def test_quoted_literals():
    assert run("${dateformat(yyyy-MM-dd'T'HH:mm:ss.SSS'Z')}") == "2017-10-16T09:00:00.000Z"
    assert run("${dateformat(h 'o''clock' a)}") == "9 o'clock AM"
    assert run("${dateformat(''yyyy'')}") == "'2017'"
    assert run("${dateformat('day' d', week' w)}") == "day 16, week 42"
    assert run("${dateformat(EEE',' d MMM yyyy HH:mm:ss Z)}") == "Mon, 16 Oct 2017 09:00:00 +0800"
    assert run("${dateformat(yyyy'}'MM)}") == "2017}10"


def test_non_letters_are_literal():
    assert run("${dateformat(yyyy年MM月dd日)}") == "2017年10月16日"
    assert run("${dateformat(yyyy/MM/dd_HH.mm-ss)}") == "2017/10/16_09.00-00"


def test_zones():
    assert run("${dateformat(z XXX)}", tz=ZoneInfo("Asia/Shanghai")) == "CST +08:00"
    assert run("${dateformat(z Z X XXX)}", tz=timezone.utc) == "UTC +0000 Z Z"
    assert run("${dateformat(HH:mm z Z XXX)}", tz=ZoneInfo("America/St_Johns")) == "22:30 NDT -0230 -02:30"
    assert run("${dateformat(yyyy-MM-dd HH:mm)}", tz=timezone.utc) == "2017-10-16 01:00"  # now is converted to tz
    st_johns_lmt = at(1930, 6, 1, 12, tz=ZoneInfo("America/St_Johns"))  # UTC-02:30:52: Java truncates the seconds
    assert run("${dateformat(Z XXX X)}", st_johns_lmt, tz=ZoneInfo("America/St_Johns")) == "-0230 -02:30 -02"


# -- offsets and units -----------------------------------------------------------------------------

@pytest.mark.parametrize("offset, unit, result", [
    ("1", "SECOND", "2017-10-16 09:00:01"), ("-90", "MINUTE", "2017-10-16 07:30:00"),
    ("15", "HOUR", "2017-10-17 00:00:00"), ("-16", "DAY", "2017-09-30 09:00:00"),
    ("3", "MONTH", "2018-01-16 09:00:00"), ("-1", "YEAR", "2016-10-16 09:00:00"),
    ("+1", "day", "2017-10-17 09:00:00"), ("0", "Month", "2017-10-16 09:00:00"),
])
def test_every_unit_for_dateformat(offset, unit, result):
    assert run(f"${{dateformat(yyyy-MM-dd HH:mm:ss, {offset}, {unit})}}") == result


@pytest.mark.parametrize("args, result", [
    ("1, SECOND", "1508115601000"), ("-1, HOUR", "1508112000000"), ("1, DAY", "1508202000000"),
    ("-1, MONTH", "1505523600000"), ("1, YEAR", "1539651600000"), ("-10,minute", "1508115000000"),
])
def test_every_unit_for_timestamp(args, result):
    assert run(f"${{timestamp({args})}}") == result


@pytest.mark.parametrize("now, macro, result", [
    (at(2017, 3, 31, 9), "${dateformat(yyyy-MM-dd, -1, MONTH)}", "2017-02-28"),
    (at(2017, 3, 31, 9), "${dateformat(yyyy-MM-dd, -13, MONTH)}", "2016-02-29"),
    (at(2016, 1, 31, 9), "${dateformat(yyyy-MM-dd, 1, MONTH)}", "2016-02-29"),  # leap year
    (at(2017, 1, 31, 9), "${dateformat(yyyy-MM-dd, 1, MONTH)}", "2017-02-28"),
    (at(2016, 2, 29, 9), "${dateformat(yyyy-MM-dd, 1, YEAR)}", "2017-02-28"),
    (at(2016, 2, 29, 9), "${dateformat(yyyy-MM-dd, -4, YEAR)}", "2012-02-29"),
    (at(2017, 5, 31, 9), "${dateformat(yyyy-MM-dd HH:mm, -1, MONTH)}", "2017-04-30 09:00"),
])
def test_month_and_year_clamp_to_the_last_day(now, macro, result):
    assert run(macro, now) == result


def test_microseconds_are_dropped_not_rounded():
    assert run("${timestamp()}", NOW.replace(microsecond=999_999)) == "1508115600999"


# -- timestamp(dateformat(...)) reads the text back ------------------------------------------------

@pytest.mark.parametrize("now, pattern, result", [
    (NOW, "yyyy-MM-dd HH", "1508115600000"),
    (NOW, "yyyy-MM", "1506787200000"),                       # 2017-10-01 00:00 +08
    (NOW, "HH:mm", "3600000"),                               # 1970-01-01 09:00 +08
    (at(2016, 2, 29, 9), "MM-dd", "5068800000"),             # 02-29 of 1970 rolls over to 1 March
    (at(2017, 10, 16, 21, 5), "yyyy-MM-dd hh:mm", "1508115900000"),  # no 'a': read back as 09:05 AM
    (at(2017, 10, 16, 21, 5), "yyyy-MM-dd hh:mm a", "1508159100000"),
    (NOW.replace(microsecond=45_000), "yyyy-MM-dd HH:mm:ss.SSS", "1508115600045"),
])
def test_timestamp_of_dateformat(now, pattern, result):
    assert run(f"${{timestamp(dateformat({pattern}))}}", now) == result


def test_timestamp_of_dateformat_uses_a_zone_field_as_written():
    kolkata = ZoneInfo("Asia/Kolkata")
    assert run("${timestamp(dateformat(yyyy-MM-dd HH:mm XXX))}", tz=kolkata) == "1508115600000"
    assert run("${timestamp(dateformat(yyyy-MM-dd HH:mm X))}", tz=kolkata) == "1508117400000"  # +05 drops :30


# -- DST, resolved as Java's GregorianCalendar does (America/New_York) -----------------------------

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize("now, macro, result", [
    (at(2017, 3, 11, 2, 30, tz=NEW_YORK), "${dateformat(yyyy-MM-dd HH:mm Z, 1, DAY)}", "2017-03-12 01:30 -0500"),
    (at(2017, 2, 12, 2, 30, tz=NEW_YORK), "${dateformat(yyyy-MM-dd HH:mm Z, 1, MONTH)}", "2017-03-12 03:30 -0400"),
    (at(2017, 10, 5, 1, 30, tz=NEW_YORK), "${dateformat(yyyy-MM-dd HH:mm Z, 1, MONTH)}", "2017-11-05 01:30 -0500"),
    (at(2017, 11, 5, 1, 30, tz=NEW_YORK), "${timestamp(dateformat(yyyyMMdd HH:mm))}", "1509863400000"),
    (at(2017, 3, 12, 12, 0, tz=NEW_YORK), "${timestamp(dateformat(yyyyMMdd))}", "1489294800000"),
])
def test_dst_gaps_and_overlaps(now, macro, result):
    assert run(macro, now, tz=NEW_YORK) == result


# -- job variables ---------------------------------------------------------------------------------

def test_variables():
    assert run("${day}", variables={"day": "2024-01-01"}) == "2024-01-01"
    assert run("/in/${dateformat(yyyy)}/${run.id-2_x}/", variables={"run.id-2_x": "7"}) == "/in/2017/7/"
    assert run("${v}", variables={"v": "${dateformat(yyyy)}"}) == "${dateformat(yyyy)}"  # not expanded again
    assert run("${dateformat}", variables={"dateformat": "a variable"}) == "a variable"


def test_names_lists_variables_not_macros():
    assert names("${a}/${b.c-d}${dateformat(yyyy)}${timestamp()}${a}") == {"a", "b.c-d"}
    assert names("no macros") == set()


def test_check_at_create_allows_any_name_and_at_start_requires_them():
    check("x=${later} and ${dateformat(yyyy, -1, DAY)}", None, field=FIELD)
    check("x=${later}", {"later": "1"}, field=FIELD)
    with pytest.raises(InvalidInput, match=r"Unknown variable or macro \$\{later\} in " + FIELD):
        check("x=${later}", {}, field=FIELD)


def test_check_refuses_month_and_year_where_not_allowed():
    check("${timestamp(-1, DAY)}", field="fromJobConfig.startTime", month_units=False)
    with pytest.raises(InvalidInput, match="unit MONTH is not allowed here"):
        check("${timestamp(-1, month)}", field="fromJobConfig.startTime", month_units=False)
    with pytest.raises(InvalidInput, match="fromJobConfig.endTime"):
        expand("${dateformat(yyyy, 1, YEAR)}", NOW, tz=UTC8, field="fromJobConfig.endTime", month_units=False)


# -- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("a ${nope} b", r"Unknown variable or macro \$\{nope\} in " + FIELD),
    ("${foo(1)}", r"Unknown variable or macro \$\{foo\(1\)\} in " + FIELD),
    ("${DateFormat(yyyy)}", r"Unknown variable or macro \$\{DateFormat\(yyyy\)\}"),
    ("${}", r"Unknown variable or macro \$\{\}"),
    ("${dateformat(yyyy, -1, DAYS)}", r"\$\{dateformat\(yyyy, -1, DAYS\)\} in .*unit 'DAYS' is not one of SECOND"),
    ("${timestamp(1, WEEK)}", "unit 'WEEK' is not one of"),
    ("${dateformat(yyyy}", r"\$\{dateformat\(yyyy\} in .*unbalanced parentheses"),
    ("${dateformat(yyyy))}", "unexpected text after"),
    ("x ${dateformat(yyyy", r"\$\{dateformat\(yyyy in .*missing closing \}"),
    ("${dateformat(yyyy-qq)}", "unsupported letter.* q in date pattern 'yyyy-qq'"),
    ("${dateformat(yyyy-MM-ddTHH)}", "unsupported letter.* T in date pattern"),
    ("${dateformat(XXXX)}", "unsupported letter.* XXXX"),
    ("${dateformat(zzzz)}", "unsupported letter.* zzzz"),
    ("${dateformat(yyyy, 1.5, DAY)}", "offset '1.5' is not an integer"),
    ("${timestamp(one, DAY)}", "offset 'one' is not an integer"),
    ("${dateformat(yyyy, 3000000000, DAY)}", "offset 3000000000 is out of range"),
    ("${dateformat(yyyy, -1, DAY, 2)}", "dateformat takes .* got 4 arguments"),
    ("${dateformat(EEE, d MMM)}", "dateformat takes .* got 2 arguments"),
    ("${dateformat()}", "dateformat needs a pattern"),
    ("${timestamp(1)}", r"timestamp takes \(\), \(offset, unit\) or \(dateformat"),
    ("${timestamp(-1, DAY, 2)}", "timestamp takes"),
    ("${dateformat(yyyy'T)}", "unterminated quote"),
    ("${dateformat(yyyy 'T)} and ${x}", "unterminated quote"),
    ("${timestamp(dateformat(YYYY-ww))}", "week fields Y, w cannot be read back"),
])
def test_errors_are_invalid_input_naming_field_and_macro(text, message):
    for call in (lambda: run(text, variables={"x": "1"}), lambda: check(text, {"x": "1"}, field=FIELD)):
        with pytest.raises(InvalidInput) as info:
            call()
        assert info.value.code == "Cdm.0014" and info.value.status == 400
        assert FIELD in str(info.value)
        assert info.match(message)


def test_out_of_range_dates_are_invalid_input():
    with pytest.raises(InvalidInput, match="date out of range") as info:
        run("${dateformat(yyyy, 9000, YEAR)}")
    assert info.value.code == "Cdm.0014"


def test_errors_without_a_field_still_name_the_macro():
    with pytest.raises(InvalidInput, match=r"^Unknown variable or macro \$\{x\}\.$"):
        expand("${x}", NOW, tz=UTC8)


def test_now_must_be_aware():
    with pytest.raises(ValueError, match="aware"):
        expand("${timestamp()}", datetime(2017, 10, 16, 9), tz=UTC8)
