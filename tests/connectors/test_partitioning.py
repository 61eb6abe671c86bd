"""Pure partition planning and FROM-side SQL helpers: no database."""

from __future__ import annotations

import datetime as dt
import pickle
import random
from decimal import Decimal

import pytest

from opencdm.connectors.base import KeyRange, WholeSource
from opencdm.connectors.jdbc.sqltext import (
    derived_table, match_tables, range_predicate, select_sql, select_statement, sql_literal
)
from opencdm.connectors.partitioning import (
    NoRows, TablePart, allocate, even_cuts, key_kind, key_ranges, plan_cuts, quantile_cuts, range_counts, skewed
)
from opencdm.errors import InvalidInput

UTC = dt.timezone.utc


def _pg(i: int) -> str:
    return f"${i}"


def _covers(part: KeyRange, v) -> bool:
    """Python's reading of ``range_predicate`` for comparable values."""
    if part.nulls:
        return v is None
    if v is None:
        return False
    above = part.lo is None or v >= part.lo
    below = part.hi is None or (v <= part.hi if part.last else v < part.hi)
    return above and below


def _check_cover(parts, values) -> list[int]:
    """Every value in exactly one part; returns the per-part counts."""
    counts = [0] * len(parts)
    for v in values:
        hits = [i for i, p in enumerate(parts) if _covers(p, v)]
        assert len(hits) == 1, (v, hits, parts)
        counts[hits[0]] += 1
    return counts


@pytest.mark.parametrize("lo,hi,kind", [
    (1, 2, "int"), (1, 2.5, "float"), (1.0, 2.0, "float"), (Decimal("1.5"), Decimal("9"), "decimal"),
    ("1.50", "99.25", "ordered"), (True, False, "ordered"), (float("nan"), 1.0, "ordered"), ("a", "z", "ordered"),
    (dt.date(2020, 1, 1), dt.date(2021, 1, 1), "date"), (dt.datetime(2020, 1, 1), dt.datetime(2021, 1, 1), "datetime"),
    (dt.datetime(2020, 1, 1), dt.datetime(2021, 1, 1, tzinfo=UTC), "ordered"), (dt.time(1), dt.time(2), "ordered"),
])
def test_key_kind(lo, hi, kind):
    assert key_kind(lo, hi) == kind


def test_key_kind_numeric_columns_come_back_as_text():
    assert key_kind("1.50", "99.25", numeric=True) == "decimal"
    assert key_kind("1.50", "nan", numeric=True) == "ordered"  # PostgreSQL sorts NaN above everything
    assert key_kind(1, 2, numeric=True) == "int"


@pytest.mark.parametrize("kind,lo,hi", [
    ("int", -10**12, 10**12), ("int", 0, 3), ("float", -1e308, 1e308), ("float", 0.0, 1e-300),
    ("decimal", Decimal("-12345678901234567890.123"), Decimal("98765432109876543210.987")),
    ("date", dt.date(1, 1, 1), dt.date(9999, 12, 31)), ("date", dt.date(2020, 1, 1), dt.date(2020, 1, 3)),
    ("datetime", dt.datetime(2020, 1, 1, tzinfo=UTC), dt.datetime(2020, 1, 1, 0, 0, 0, 5, tzinfo=UTC)),
])
def test_even_cuts_are_increasing_and_inside(kind, lo, hi):
    for n in (1, 2, 7, 64):
        cuts = even_cuts(kind, lo, hi, n)
        assert len(cuts) <= n - 1 if n > 1 else cuts == []
        assert all(lo < c <= hi for c in cuts) and cuts == sorted(set(cuts))


def test_even_cuts_equal_widths():
    assert even_cuts("int", 1, 100, 4) == [26, 51, 76]
    assert even_cuts("date", dt.date(2020, 1, 1), dt.date(2020, 1, 9), 2) == [dt.date(2020, 1, 5)]
    assert even_cuts("decimal", Decimal("0"), Decimal("1"), 4) == [Decimal("0.25"), Decimal("0.5"), Decimal("0.75")]
    assert even_cuts("int", 5, 5, 4) == [] and even_cuts("int", 5, 4, 4) == []
    with pytest.raises(ValueError):
        even_cuts("ordered", "a", "b", 2)


def test_quantile_cuts_merge_duplicates():
    assert quantile_cuts(list(range(100)), 4) == [25, 50, 75]
    assert quantile_cuts([1] * 90 + list(range(2, 12)), 4) == []  # one value holds every quantile
    assert quantile_cuts([0] * 10 + [5] * 80 + [9] * 10, 4) == [5]
    assert quantile_cuts([], 4) == [] and quantile_cuts([3, 4], 1) == []


def test_skew_detection():
    uniform = list(range(1000))
    assert not skewed(even_cuts("int", 0, 999, 4), uniform)
    hot = [random.Random(1).randint(0, 9) for _ in range(950)] + list(range(10, 1000, 19))
    assert range_counts([250, 500, 750], sorted(hot))[0] > 900
    assert skewed([250, 500, 750], sorted(hot))
    assert not skewed([250, 500, 750], [1, 2, 3])  # too small a sample to judge


def test_skewed_key_falls_back_to_quantiles_and_balances():
    """95 % of the rows in 1 % of the key range: equal widths would put them in one range."""
    rng = random.Random(42)
    rows = [rng.randint(0, 999) for _ in range(19_000)] + [rng.randint(1000, 99_999) for _ in range(1_000)]
    sample = sorted(rng.sample(rows, 2000))
    cuts, method = plan_cuts(min(rows), max(rows), sample, 8)
    assert method == "quantiles" and len(cuts) == 7
    counts = _check_cover(key_ranges("k", cuts), rows)
    assert max(counts) < 2 * len(rows) / 8 and min(counts) > len(rows) / 8 / 2
    even, method = plan_cuts(min(rows), max(rows), sorted(rng.sample(range(100_000), 2000)), 8)
    assert method == "even" and len(even) == 7


@pytest.mark.parametrize("make", [
    lambda r: r.randint(-10**6, 10**6),
    lambda r: r.uniform(-1e6, 1e6),
    lambda r: Decimal(r.randint(-10**8, 10**8)) / 100,
    lambda r: dt.date(2000, 1, 1) + dt.timedelta(days=r.randint(0, 9000)),
    lambda r: dt.datetime(2000, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=r.randint(0, 10**15)),
    lambda r: "".join(r.choice("abcXYZ é中") for _ in range(r.randint(0, 6))),
])
def test_plans_cover_every_value_exactly_once(make):
    rng = random.Random(7)
    for _ in range(60):
        values = [make(rng) for _ in range(rng.randint(1, 300))]
        values += [values[0]] * rng.randint(0, 200)  # a hot key
        values += [None] * rng.randint(0, 3)
        keys = sorted(v for v in values if v is not None)
        sample = sorted(rng.sample(keys, min(len(keys), rng.randint(0, 100))))
        n = rng.randint(1, 12)
        cuts, _ = plan_cuts(keys[0], keys[-1], sample, n)
        assert len(cuts) <= max(0, n - 1)
        boundary = rng.random() < 0.3
        ends = (keys[0], keys[-1]) if boundary else (None, None)
        parts = key_ranges("k", cuts, *ends, nulls=True)
        assert [p.index for p in parts] == list(range(len(parts)))
        _check_cover(parts, values)


def test_plan_cuts_decimal_text_round_trips_as_text():
    cuts, method = plan_cuts("0.00", "100.00", [], 4, numeric=True)
    assert method == "even" and cuts == ["25.00", "50.00", "75.00"]
    cuts, _ = plan_cuts(1, 100, ["x", 5, 6.5, None, 70], 2)  # values of other types are ignored
    assert cuts == [51]


def test_key_ranges_shapes():
    parts = key_ranges("k", [10, 20], nulls=True, start=3)
    assert parts == [KeyRange(3, "k", None, 10), KeyRange(4, "k", 10, 20), KeyRange(5, "k", 20, None, last=True),
                     KeyRange(6, "k", nulls=True)]
    assert key_ranges("k", [], 1, 5) == [KeyRange(0, "k", 1, 5, last=True)]


def test_open_ended_predicates():
    assert range_predicate(KeyRange(0, "k", None, 10), '"', _pg) == ('"k" < $1', [10])
    assert range_predicate(KeyRange(0, "k", 10, None, last=True), '"', _pg) == ('"k" >= $1', [10])
    assert range_predicate(KeyRange(0, "k"), '"', _pg) == ('"k" IS NOT NULL', [])


def test_allocate():
    assert allocate([100, 100], 4) == [2, 2]
    assert allocate([1000, 10, 0], 8) == [7, 1, 1]
    assert allocate([0, 0], 5) == [1, 1]
    assert allocate([5, 5, 5], 2) == [1, 1, 1]
    assert sum(allocate([3, 7, 11, 13], 16)) == 16
    assert allocate([], 3) == []


def test_partitions_are_plain_picklable_data():
    part = TablePart(3, "s1", "t 2", KeyRange(3, "k", dt.date(2020, 1, 1), Decimal("1.5"), last=True))
    assert pickle.loads(pickle.dumps(part)) == part
    assert "t 2" in str(part) and pickle.loads(pickle.dumps(NoRows(0))) == NoRows(0)
    assert TablePart(0, None, "t").part == WholeSource(0)


@pytest.mark.parametrize("sql", [
    "SELECT 1", "  select a, b from t where x = ';'  ;  ", "WITH x AS (SELECT 1) SELECT * FROM x;",
    "(SELECT 1) UNION (SELECT 2)", "/* lead; */ SELECT 1 -- tail; comment", "SELECT $$;$$, $q$a;b$q$",
    'SELECT "semi;colon" FROM t',
])
def test_select_statement_accepts_one_select(sql):
    out = select_statement(sql, "fromJobConfig.sql")
    assert not out.endswith(";") and out.lstrip().lower().startswith(("select", "with", "(", "/*"))


@pytest.mark.parametrize("sql,match", [
    ("DELETE FROM t", r"not \[DELETE\]"), ("update t set a = 1", r"not \[UPDATE\]"),
    ("DROP TABLE t", "DROP"), ("INSERT INTO t SELECT 1", "INSERT"), ("-- SELECT\nDELETE FROM t", "DELETE"),
    ("SELECT 1; DELETE FROM t", "single"), ("select 1; select 2", "single"), ("CALL p()", "CALL"),
    ("SET ROLE admin", "SET"), ("", "SELECT"),
])
def test_select_statement_refuses_anything_else(sql, match):
    with pytest.raises(InvalidInput, match=match) as err:
        select_statement(sql, "fromJobConfig.sql")
    assert err.value.code == "Cdm.0014" and "fromJobConfig.sql" in str(err.value)


def test_derived_table_survives_a_trailing_comment():
    sql = select_statement("SELECT 1 AS a -- note", "x")
    assert select_sql(derived_table(sql), ['"a"'], None, WholeSource(0), '"', _pg)[0] == \
        'SELECT "a" FROM (SELECT 1 AS a -- note\n) AS q'


def test_match_tables():
    tables = [("public", "orders_1"), ("public", "orders_2"), ("public", "Orders_3"), ("shard_a", "orders_1"),
              ("public", "orders"), ("public", "opencdm_stage_run1"), ("public", "x_orders_1_y")]
    assert match_tables(tables, "public", "orders_*") == [("public", "orders_1"), ("public", "orders_2")]
    assert match_tables(tables, "public", "*orders*") == [
        ("public", "orders"), ("public", "orders_1"), ("public", "orders_2"), ("public", "x_orders_1_y")]
    assert match_tables(tables, "*", "orders_1") == [("public", "orders_1"), ("shard_a", "orders_1")]
    assert match_tables(tables, "shard*", "*") == [("shard_a", "orders_1")]
    assert match_tables(tables, "PUBLIC", "ORDERS_*") == [("public", "Orders_3"), ("public", "orders_1"),
                                                          ("public", "orders_2")]  # case-insensitive fallback
    assert match_tables(tables, "public", "opencdm_stage_*") == []
    assert match_tables(tables, "public", "orders_?") == []  # only * is special
    assert match_tables([(None, "a1"), (None, "a2"), (None, "b")], "ignored", "a*") == [(None, "a1"), (None, "a2")]


def test_sql_literal():
    assert sql_literal(5) == "5" and sql_literal(-1.5) == "-1.5" and sql_literal(True) is None
    assert sql_literal(Decimal("12.50")) == "'12.50'" and sql_literal(float("nan")) == "'NaN'"
    assert sql_literal(float("-inf")) == "'-Infinity'"
    assert sql_literal(dt.date(2020, 1, 2)) == "'2020-01-02'"
    assert sql_literal(dt.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "'2020-01-02 03:04:05.000006+00:00'"
    assert sql_literal("x'; DROP TABLE t; --") is None and sql_literal(b"x") is None
