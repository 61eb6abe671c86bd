"""Table -> CSV / JSON / Parquet files -> table keeps every edge value of ``docs/types.md``.

The fidelity table of ``test_types`` is written by ``local-file-connector`` in two partitions, read
back by the same connector and loaded into PostgreSQL: for Parquet into a table the loader creates
from the types the file carries, for CSV and JSON (text formats without types) into a table with
the source's own declaration. Values are compared per type, exactly as in ``test_types``.
"""

from __future__ import annotations

import uuid

import pytest

from opencdm.connectors import get
from tests.connectors.test_types import COLS, JDBC, check, dbs, fill, source_cols, stored  # noqa: F401

LOCAL = get("local-file-connector")


def copy(extractor, loader, parts: int = 2) -> list:
    schema = extractor.schema()
    loader.prepare(schema)
    results = [loader.load(p, extractor.extract(p)) for p in extractor.partitions(parts)]
    loader.commit(results)
    return results


def table_to_files(d, folder: str, fmt: str, **extra: str) -> list:
    extractor = JDBC.extractor(d.link("pg"), {"fromJobConfig.schemaName": "public",
                                                "fromJobConfig.tableName": "fidelity",
                                                "fromJobConfig.partitionColumn": "id"}, d.ctx)
    tjob = {"toJobConfig.outputDirectory": folder, "toJobConfig.outputFormat": fmt, **extra}
    return copy(extractor, LOCAL.loader({}, tjob, d.ctx, uuid.uuid4().hex))


def files_to_table(d, folder: str, fmt: str, table: str, prep: str, **extra: str) -> list:
    fjob = {"fromJobConfig.inputDirectory": folder, "fromJobConfig.inputFormat": fmt, **extra}
    tjob = {"toJobConfig.schemaName": "public", "toJobConfig.tableName": table, "toJobConfig.tablePreparation": prep}
    return copy(LOCAL.extractor({}, fjob, d.ctx), JDBC.loader(d.link("pg"), tjob, d.ctx, uuid.uuid4().hex))


@pytest.mark.parametrize("fmt,header", [("CSV_FILE", "true"), ("CSV_FILE", "false"), ("JSON_FILE", ""),
                                        ("PARQUET_FILE", "")])
def test_table_files_table_keeps_every_value(dbs, fmt, header):  # noqa: F811 (the fixture)
    folder = f"rt-{fmt}-{header}-{uuid.uuid4().hex[:6]}"
    extra = {"toJobConfig.firstRowAsHeader": header} if header else {}
    written = table_to_files(dbs, folder, fmt, **extra)
    assert sum(r.rows for r in written) == len(COLS[0].values)
    files = sorted(p.name for p in (dbs.root / folder).iterdir())
    assert files and not any(name.startswith(".") for name in files), files  # the temp folder is gone
    table = f"rt_{uuid.uuid4().hex[:8]}"
    cols = source_cols("pg")
    if fmt == "PARQUET_FILE":
        import pyarrow as pa
        import pyarrow.parquet as pq

        stored_as = pq.read_schema(next((dbs.root / folder).iterdir()))
        assert stored_as.field("n28").type == pa.decimal128(28, 10)  # readers see decimals, not text
        assert stored_as.field("n65").type == pa.string()  # beyond Parquet's 38 digits: exact text
        files_to_table(dbs, folder, fmt, table, "CREATE_WHEN_NOT_EXIST")
        declared, original = dbs.types("pg", table), dbs.types("pg", "fidelity")
        assert {c.name: declared[c.name] for c in cols} == {c.name: original[c.name] for c in cols}
    else:
        fill(dbs, "pg", table, cols, [])
        fjob = {"fromJobConfig.firstRowAsHeader": header} if header else {}
        files_to_table(dbs, folder, fmt, table, "DO_NOTHING", **fjob)  # without a header: by position
    check(dbs, "pg", table, cols, stored(dbs, "pg"))


def test_local_paths_stay_inside_the_project_root(dbs, tmp_path):  # noqa: F811 (the fixture)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("a,b\n1,2\n")
    (dbs.root / "escape").mkdir(exist_ok=True)
    link = dbs.root / "escape" / "out"
    if not link.exists():
        link.symlink_to(outside)
    for path in ("../outside", str(outside), "/etc", "escape/out", "a/../../x"):
        with pytest.raises(Exception) as err:
            LOCAL.check_job({}, {"fromJobConfig.inputDirectory": path, "fromJobConfig.inputFormat": "CSV_FILE"},
                            "from", dbs.ctx)
        assert getattr(err.value, "code", None) == "Cdm.0014", (path, err.value)
        with pytest.raises(Exception) as err:
            LOCAL.check_job({}, {"toJobConfig.outputDirectory": path, "toJobConfig.outputFormat": "CSV_FILE"},
                            "to", dbs.ctx)
        assert getattr(err.value, "code", None) == "Cdm.0014", (path, err.value)
    # a symlinked file inside an allowed folder that points out is refused when the run lists it
    inside = dbs.root / "sneaky"
    inside.mkdir(exist_ok=True)
    if not (inside / "f.csv").exists():
        (inside / "f.csv").symlink_to(outside / "secret.csv")
    ext = LOCAL.extractor({}, {"fromJobConfig.inputDirectory": "sneaky", "fromJobConfig.inputFormat": "CSV_FILE"},
                          dbs.ctx)
    with pytest.raises(Exception) as err:
        ext.schema()
    assert getattr(err.value, "code", None) == "Cdm.0014"
