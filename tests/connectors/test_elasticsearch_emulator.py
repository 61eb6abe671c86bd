"""``elasticsearch-connector`` reading, against osmem-server, an OpenSearch **emulator** (no real
Elasticsearch or OpenSearch installs here; ``OPENCDM_TEST_ES_URL`` runs these against a real cluster):
sliced scrolls cover every document once, columnList types, the mapping, queryString, and the errors."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from opencdm.connectors import get
from opencdm.connectors.base import ConnectorContext
from opencdm.errors import CdmError

ES, JDBC = get("elasticsearch-connector"), get("generic-jdbc-connector")
CTX = ConnectorContext()
DOCS = [{"id": i, "qty": i * 3, "price": i / 4, "name": f"doc {i} ü", "ok": i % 2 == 0,
         "tags": [{"k": i}, {"k": -i}], "addr": {"city": f"c{i % 5}", "zip": 1000 + i}} for i in range(1, 2501)]


@pytest.fixture(scope="module")
def index(search_server) -> str:
    name = f"idx_{uuid.uuid4().hex[:8]}"
    search_server.call("PUT", f"/{name}", {"settings": {"number_of_shards": 2}, "mappings": {"properties": {
        "id": {"type": "long"}, "qty": {"type": "integer"}, "price": {"type": "double"}, "name": {"type": "keyword"},
        "ok": {"type": "boolean"}, "tags": {"type": "nested"},
        "addr": {"properties": {"city": {"type": "keyword"}, "zip": {"type": "long"}}}}}})
    search_server.bulk(name, DOCS)
    return name


def read(link: dict, fjob: dict, parts: int) -> list[dict]:
    ext = ES.extractor(link, fjob, CTX)
    return [row for p in ext.partitions(parts) for b in ext.extract(p) for row in b.to_pylist()]


@pytest.mark.parametrize("parts", [1, 3])
def test_emulator_slices_read_every_document_once_with_column_list_types(search_server, index, parts):
    rows = read(search_server.link_inputs(), {"fromJobConfig.index": index, "fromJobConfig.type": "_doc",
                                              "fromJobConfig.columnList": "id:long&qty:integer&tags:nested&ok:boolean"},
                parts)
    assert sorted(r["id"] for r in rows) == list(range(1, 2501))
    by_id = {r["id"]: r for r in rows}
    assert by_id[7] == {"id": 7, "qty": 21, "tags": json.dumps([{"k": 7}, {"k": -7}]), "ok": False}


def test_emulator_mapping_query_and_nested_split(search_server, index):
    ext = ES.extractor(search_server.link_inputs(), {"fromJobConfig.index": index,
                                                     "fromJobConfig.splitNestedField": "true",
                                                     "fromJobConfig.queryString": "addr.city:c3"}, CTX)
    assert set(ext.schema().names) == {"id", "qty", "price", "name", "ok", "tags", "addr.city", "addr.zip"}
    assert ext.estimate_rows() == 500
    rows = [r for p in ext.partitions(2) for b in ext.extract(p) for r in b.to_pylist()]
    assert len(rows) == 500 and {r["addr.city"] for r in rows} == {"c3"}
    assert all(r["addr.zip"] == 1000 + r["id"] for r in rows)


def test_emulator_index_to_postgresql(search_server, index, pg):
    db = pg.create_database()
    ext = ES.extractor(search_server.link_inputs(), {"fromJobConfig.index": index,
                                                     "fromJobConfig.columnList": "id:long&name:string&price:double"},
                       CTX)
    loader = JDBC.loader(pg.link_inputs(db), {"toJobConfig.schemaName": "public", "toJobConfig.tableName": "docs",
                                              "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"},
                         CTX, uuid.uuid4().hex)
    loader.prepare(ext.schema())
    loader.commit([loader.load(p, ext.extract(p)) for p in ext.partitions(2)])
    with psycopg.connect(pg.dsn(db)) as conn:
        got = conn.execute("SELECT id, name, price FROM docs ORDER BY id").fetchall()
    assert got == [(d["id"], d["name"], d["price"]) for d in DOCS]


def test_emulator_errors_name_the_cause(search_server, index):
    found = ES.check_link(search_server.link_inputs(), CTX)  # product and version
    product = {"opensearch": "OpenSearch 3.", "elasticsearch": "Elasticsearch 8."}.get(search_server.dialect, "")
    assert found.startswith(product) and found.split()[1][0].isdigit(), found
    with pytest.raises(CdmError) as err:  # nothing listens there
        from tests.infra.postgres import free_port

        ES.check_link(dict(search_server.link_inputs(), **{"linkConfig.host": f"127.0.0.1:{free_port()}"}), CTX)
    assert err.value.code == "Cdm.0901"
    with pytest.raises(CdmError) as err:  # httpsAccess is honoured: TLS to a plain-HTTP port fails
        ES.check_link(dict(search_server.link_inputs(), **{"linkConfig.httpsAccess": "true"}), CTX)
    assert err.value.code == "Cdm.0901"
    with pytest.raises(CdmError) as err:
        ES.extractor(search_server.link_inputs(), {"fromJobConfig.index": "no_such_index"}, CTX).schema()
    assert "Not found" in str(err.value)
    for bad in ({"fromJobConfig.index": index, "fromJobConfig.columnList": "a:blob"},
                {"fromJobConfig.index": "../x"}, {}):
        with pytest.raises(CdmError):
            ES.check_job(search_server.link_inputs(), bad, "from", CTX)


def test_emulator_documents_that_do_not_fit_their_column_go_to_dirty_data(search_server):
    name = f"mixed_{uuid.uuid4().hex[:8]}"
    search_server.call("PUT", f"/{name}", {"mappings": {"properties": {"code": {"type": "keyword"}}}})
    search_server.bulk(name, [{"id": i, "code": i if i != 5 else "five"} for i in range(1, 11)])
    ext = ES.extractor(search_server.link_inputs(), {"fromJobConfig.index": name,
                                                     "fromJobConfig.columnList": "id:long&code:long"}, CTX)
    kept = []

    class Dirty:
        def record(self, rows, reasons):
            kept.extend(zip(rows.to_pylist(), reasons))

    rows = [r for p in ext.partitions(1) for b in ext.extract(p, dirty=Dirty()) for r in b.to_pylist()]
    assert sorted(r["id"] for r in rows) == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert len(kept) == 1 and '"five"' in kept[0][0]["document"] and "[code]" in kept[0][1]
    with pytest.raises(CdmError, match=r"Field \[code\]"):
        [b for p in ext.partitions(1) for b in ext.extract(p)]
