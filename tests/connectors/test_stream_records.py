"""Stream records to rows and back (``connectors/streams/records.py``), and a Kafka topic of JSON records
read from Tansu with the records that do not parse or fit set aside as dirty data."""

from __future__ import annotations

import json
import uuid

import pyarrow as pa
import pytest

from opencdm.connectors import get
from opencdm.connectors.base import ConnectorContext
from opencdm.connectors.streams.records import LineFormat, RecordFormat
from opencdm.errors import CdmError


class Dirty:
    def __init__(self) -> None:
        self.rows, self.reasons = [], []

    def record(self, rows, reasons):
        self.rows += rows.to_pylist()
        self.reasons += reasons


def test_csv_records_learn_their_width_and_set_aside_other_shapes():
    fmt = RecordFormat.parse({"fromJobConfig.dataFormat": "CSV", "fromJobConfig.separator": "|"})
    layout = fmt.layout(b'1|"a|b"|x')
    schema = fmt.schema(layout)
    assert schema.names == ["1", "2", "3"] and schema.metadata  # positional: matched to table columns in order
    dirty = Dirty()
    batch = fmt.batch([b"2|b|y", b"too|few", b'3|"q"|z\n'], schema, dirty)
    assert batch.to_pylist() == [{"1": "2", "2": "b", "3": "y"}, {"1": "3", "2": "q", "3": "z"}]
    assert dirty.rows == [{"record": "too|few"}] and "2 fields where 3" in dirty.reasons[0]
    with pytest.raises(CdmError, match="2 fields where 3"):
        fmt.batch([b"too|few"], schema, None)


def test_json_records_take_types_from_the_first_record_or_column_list():
    fmt = RecordFormat.parse({"fromJobConfig.dataFormat": "JSON"})
    layout = fmt.layout(b'{"id": 1, "price": 2.5, "ok": true, "name": "n", "tags": [1]}')
    assert layout == (("id", "long"), ("price", "double"), ("ok", "boolean"), ("name", "string"),
                      ("tags", "string"))
    dirty = Dirty()
    batch = fmt.batch([b'{"id": 2, "price": 3, "ok": false, "name": "m", "tags": {"a": 1}}', b"{not json",
                       b'[1, 2]', b'{"id": "seven"}', b'{"id": 4}'], fmt.schema(layout), dirty)
    assert batch.to_pylist() == [{"id": 2, "price": 3.0, "ok": False, "name": "m", "tags": '{"a": 1}'},
                                 {"id": 4, "price": None, "ok": None, "name": None, "tags": None}]
    assert [r.split(":")[0] for r in dirty.reasons] == ["The record is not valid JSON", "The record is JSON but not "
                                                        "an object.", 'Field [id] holds "seven", which is not int64.']
    named = RecordFormat.parse({"fromJobConfig.dataFormat": "JSON", "fromJobConfig.columnList": "id:long&name"})
    assert named.layout(None) == (("id", "long"), ("name", "string"))
    with pytest.raises(CdmError):
        RecordFormat.parse({"fromJobConfig.dataFormat": "JSON", "fromJobConfig.columnList": "id:blob"})
    with pytest.raises(CdmError, match="No record"):
        RecordFormat.parse({"fromJobConfig.dataFormat": "CSV"}).layout(None)


def test_lines_pick_columns_by_number_and_enclose_values():
    fmt = LineFormat.parse({"toJobConfig.separator": "|", "toJobConfig.columnList": "3&1",
                            "toJobConfig.identifierEnclose": "'"})
    batch = pa.record_batch({"a": [1, None], "b": ["x", "y"], "c": ["it's", "z"]})
    assert [line for line, _, _ in fmt.lines([batch])] == [b"'it''s'|'1'", b"'z'|''"]
    with pytest.raises(CdmError):
        LineFormat.parse({"toJobConfig.columnList": "0"})
    with pytest.raises(CdmError, match="column 3"):
        LineFormat.parse({"toJobConfig.columnList": "3"}).check(pa.schema([("a", pa.int64())]))


def test_tansu_json_topic_with_bad_records_to_dirty(kafka_broker):
    topic = f"j{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, 2)
    docs = [{"id": i, "name": f"n{i}", "nested": {"k": [i]}} for i in range(200)]
    kafka_broker.produce(topic, [json.dumps(d) for d in docs] + ["{broken", '{"id": "x"}'])
    ext = get("kafka-connector").extractor(kafka_broker.link_inputs(), {
        "fromJobConfig.topicsList": topic, "fromJobConfig.dataFormat": "JSON",
        "fromJobConfig.kafkaConsumerStrategy": "EARLIEST"}, ConnectorContext())
    ext.resume({}, False)
    dirty = Dirty()
    rows = [r for p in ext.partitions(2) for b in ext.extract(p, dirty=dirty) for r in b.to_pylist()]
    assert sorted(rows, key=lambda r: r["id"]) == [dict(d, nested=json.dumps(d["nested"])) for d in docs]
    assert sorted(r["record"] for r in dirty.rows) == ['{"id": "x"}', "{broken"]
