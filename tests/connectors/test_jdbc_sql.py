"""Pure logic of the JDBC connector: partition maths, SQL building, input parsing. No I/O."""

from __future__ import annotations

import pyarrow as pa
import pytest

from opencdm.connectors import config
from opencdm.connectors.arrow import conform
from opencdm.connectors.base import KeyRange, WholeSource
from opencdm.connectors.jdbc.adbc import Feed
from opencdm.connectors.jdbc.sqltext import (
    int_literal, match_columns, quote_ident, range_predicate, select_sql, stage_name
)
from opencdm.connectors.partitioning import split_range
from opencdm.errors import InvalidInput


def _pg(i: int) -> str:
    return f"${i}"


@pytest.mark.parametrize("lo,hi,n", [(1, 10, 3), (0, 0, 4), (-5, 5, 11), (1, 3, 10), (7, 1000, 1),
                                     (-10**12, 10**12, 7)])
def test_split_range_is_contiguous_and_balanced(lo, hi, n):
    pieces = split_range(lo, hi, n)
    assert 1 <= len(pieces) <= n
    assert pieces[0][0] == lo and pieces[-1][1] == hi
    for (a, b), (c, _) in zip(pieces, pieces[1:]):
        assert b == c and a < b  # half-open pieces meet exactly and are not empty
    widths = [b - a for a, b in pieces[:-1]] + [pieces[-1][1] - pieces[-1][0] + 1]
    assert max(widths) - min(widths) <= 1


def test_split_range_rejects_empty_range():
    with pytest.raises(ValueError):
        split_range(5, 4, 2)


def test_range_predicate_and_select():
    part = KeyRange(0, 'we"ird', 10, 20)
    assert range_predicate(part, '"', _pg) == ('"we""ird" >= $1 AND "we""ird" < $2', [10, 20])
    assert range_predicate(KeyRange(1, "k", 1, 5, last=True), '"', lambda i: "?")[0] == '"k" >= ? AND "k" <= ?'
    assert range_predicate(KeyRange(2, "k", nulls=True), '"', _pg) == ('"k" IS NULL', [])
    assert range_predicate(WholeSource(0), '"', _pg) == ("", [])
    sql, params = select_sql('"t"', ['"a"', '"b"'], "a > 1 OR b", part, '"', _pg)
    assert sql == 'SELECT "a", "b" FROM "t" WHERE (a > 1 OR b) AND "we""ird" >= $1 AND "we""ird" < $2'
    assert params == [10, 20]
    assert select_sql('"t"', ["*"], None, WholeSource(0), '"', _pg) == ('SELECT * FROM "t"', [])


def test_only_exact_ints_are_inlined():
    sql, params = select_sql('"t"', ["*"], None, KeyRange(0, "k", 3, 9), '"', _pg, int_literal)
    assert sql.endswith('"k" >= 3 AND "k" < 9') and params == []
    sql, params = select_sql('"t"', ["*"], None, KeyRange(0, "k", "1; DROP TABLE t", 9), '"', _pg, int_literal)
    assert sql.endswith('"k" >= $1 AND "k" < 9') and params == ["1; DROP TABLE t"]
    assert int_literal(True) is None and int_literal(1.0) is None and int_literal(-4) == "-4"


def test_stage_name():
    assert stage_name("run42") == "opencdm_stage_run42"
    assert stage_name("a-b") != stage_name("a_b")
    assert stage_name("ABC") != stage_name("abc")
    long = stage_name("x" * 200)
    assert len(long) <= 63 and long == stage_name("x" * 200)
    assert all(c.isalnum() or c == "_" for c in stage_name('r"; DROP TABLE x; --'))


def test_quote_and_match_columns():
    assert quote_ident('a"b') == '"a""b"'
    assert quote_ident("a`b", "`") == "`a``b`"
    assert match_columns(["ID", "name"], ["id", "name", "Name2"], "t") == ["id", "name"]
    with pytest.raises(InvalidInput, match=r"Column \[nope\] does not exist in table \[t\]"):
        match_columns(["nope"], ["id"], "t")
    with pytest.raises(InvalidInput):
        match_columns(["x"], ["X", "x2", "X"], "t")  # ambiguous


def test_conform_unwraps_extension_types_and_keeps_metadata():
    schema = pa.schema([pa.field("j", pa.string(), metadata={b"opencdm.type": b"jsonb"}), pa.field("i", pa.int64())])
    batch = pa.RecordBatch.from_arrays([pa.array(['{"a": 1}'], pa.json_()), pa.array([1], pa.int32())],
                                       names=["j", "i"])
    out = conform(batch, schema)
    assert out.schema == schema and out.schema.field("j").metadata == {b"opencdm.type": b"jsonb"}
    assert out.column(0).to_pylist() == ['{"a": 1}']


def test_feed_counts_rows_and_keeps_the_source_error():
    def source():
        yield pa.record_batch([pa.array([1, 2])], names=["a"])
        yield pa.record_batch([pa.array([], pa.int64())], names=["a"])
        raise KeyError("engine stopped")

    feed = Feed(source(), lambda b: b)
    with pytest.raises(KeyError):
        list(feed)
    assert feed.rows == 2
    with pytest.raises(KeyError):
        feed.reraise()


def test_config_parsing():
    inputs = {"s": " x ", "t": "TRUE", "f": False, "p": "3306", "pj": 3306, "pf": 5.0, "blank": "", "e": "do_nothing",
              "l": "id& name&&", "pw": " secret "}
    assert config.get_str(inputs, "s") == "x" and config.get_str(inputs, "blank", "d") == "d"
    assert config.get_bool(inputs, "t") is True and config.get_bool(inputs, "f") is False
    assert config.get_bool(inputs, "missing", True) is True
    assert config.get_int(inputs, "p") == 3306 == config.get_int(inputs, "pj") and config.get_int(inputs, "pf") == 5
    assert config.get_enum(inputs, "e", ["DO_NOTHING", "DROP_AND_CREATE"]) == "DO_NOTHING"
    assert config.get_list(inputs, "l") == ["id", "name"] and config.get_list(inputs, "missing") == []
    assert config.get_secret(inputs, "pw") == " secret "
    assert config.given(inputs, "s") and not config.given(inputs, "blank")
    for name, call in [("s", config.get_bool), ("s", config.get_int), ("t", config.get_int)]:
        with pytest.raises(InvalidInput, match=name):
            call(inputs, name)
    with pytest.raises(InvalidInput, match="one of DROP_AND_CREATE"):
        config.get_enum(inputs, "s", ["DROP_AND_CREATE"])
    with pytest.raises(InvalidInput, match=r"linkConfig.host cannot be left blank") as err:
        config.require({"linkConfig.host": ""}, "linkConfig.host")
    assert err.value.code == "Cdm.0238"
