"""The file machinery on ``local-file-connector``: source options, splits, binary copies, temporary
files and ``duplicateFileOpType``. The same code serves OBS, SFTP and FTP (``test_file_stores``)."""

from __future__ import annotations

import gzip
import hashlib
import os
import uuid
import zipfile
from pathlib import Path

import pyarrow as pa
import pytest

from opencdm.connectors import get
from opencdm.connectors.base import ConnectorContext
from opencdm.errors import CdmError, LoadFailed

LOCAL = get("local-file-connector")


class Dirty:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.reasons: list[str] = []

    def record(self, rows, reasons) -> None:
        self.rows.extend(rows.to_pylist())
        self.reasons.extend(reasons)


@pytest.fixture
def ctx(tmp_path) -> ConnectorContext:
    return ConnectorContext(file_root=str(tmp_path), allowed_dirs=(str(tmp_path),))


def read_all(ctx, parts: int = 1, dirty=None, **fjob: str) -> pa.Table:
    ext = LOCAL.extractor({}, {f"fromJobConfig.{k}": v for k, v in fjob.items()}, ctx)
    schema = ext.schema()
    batches = [b for p in ext.partitions(parts) for b in ext.extract(p, dirty)]
    return pa.Table.from_batches(batches, schema=schema)


def run(ctx, fjob: dict, tjob: dict, parts: int = 2, native: bool | None = None, run_id: str | None = None):
    ext = LOCAL.extractor({}, {f"fromJobConfig.{k}": v for k, v in fjob.items()}, ctx)
    loader = LOCAL.loader({}, {f"toJobConfig.{k}": v for k, v in tjob.items()}, ctx, run_id or uuid.uuid4().hex)
    loader.prepare(ext.schema())
    fmt = ext.native_format()
    use_native = fmt is not None and loader.accepts_native(fmt) if native is None else native
    try:  # as the engine does: any failure aborts
        results = [loader.load_native(p, ext.native_stream(p), fmt) if use_native else loader.load(p, ext.extract(p))
                   for p in ext.partitions(parts)]
        loader.commit(results)
    except BaseException:
        loader.abort()
        raise
    return results


def test_csv_source_options(ctx, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.csv").write_bytes("id;name\r\n1;\"x;y\"\r\n2;\r\n3;\"\"\r\n".encode())
    t = read_all(ctx, inputDirectory="in", inputFormat="CSV_FILE", fieldSeparator=";", firstRowAsHeader="true")
    assert t.column_names == ["id", "name"]
    assert t.to_pylist() == [{"id": "1", "name": "x;y"}, {"id": "2", "name": None}, {"id": "3", "name": ""}]
    # columnList picks columns by number; GBK text; gzip
    (d / "a.csv").unlink()
    with gzip.open(d / "b.csv.gz", "wb") as f:
        f.write("1,中文,z\n2,数据,w\n".encode("gbk"))
    t = read_all(ctx, inputDirectory="in", inputFormat="CSV_FILE", encodeType="GBK", fromCompression="GZIP",
                 columnList="3&2")
    assert t.to_pylist() == [{"col_3": "z", "col_2": "中文"}, {"col_3": "w", "col_2": "数据"}]


def test_regex_separator_custom_line_end_and_bad_lines(ctx, tmp_path):
    d = tmp_path / "rx"
    d.mkdir()
    (d / "x.txt").write_text("1  a|||2 b|||oops|||3   c")
    with pytest.raises(CdmError):
        read_all(ctx, inputDirectory="rx", inputFormat="CSV_FILE", regexSeparator="true", regex=r"\s+",
                 lineSeparator="|||")
    dirty = Dirty()
    t = read_all(ctx, dirty=dirty, inputDirectory="rx", inputFormat="CSV_FILE", regexSeparator="true",
                 regex=r"\s+", lineSeparator="|||")
    assert t.to_pylist() == [{"col_1": "1", "col_2": "a"}, {"col_1": "2", "col_2": "b"}, {"col_1": "3", "col_2": "c"}]
    assert dirty.rows == [{"line": "oops"}] and "line 3" in dirty.reasons[0]
    # Arrow's parser reports bad lines the same way
    (d / "x.txt").write_text("1,a\n2,b,extra\n3,c\n")
    dirty = Dirty()
    t = read_all(ctx, dirty=dirty, inputDirectory="rx", inputFormat="CSV_FILE")
    assert t.num_rows == 2 and dirty.rows == [{"line": "2,b,extra"}]


def test_json_zip_and_reference_node(ctx, tmp_path):
    d = tmp_path / "js"
    d.mkdir()
    with zipfile.ZipFile(d / "docs.zip", "w") as z:
        z.writestr("one.json", '{"data": {"list": [{"id": 1, "v": 1.5, "ok": true, "o": {"k": [1]}}, {"id": 2}]}}')
        z.writestr("two.json", '{"data": {"list": [{"id": 3, "v": 2, "ok": false, "o": null}]}}')
    t = read_all(ctx, inputDirectory="js", inputFormat="JSON_FILE", fromCompression="ZIP",
                 jsonReferenceNode="data.list")
    assert t.schema.types == [pa.int64(), pa.float64(), pa.bool_(), pa.string()]
    assert t.to_pylist() == [{"id": 1, "v": 1.5, "ok": True, "o": '{"k": [1]}'},
                             {"id": 2, "v": None, "ok": None, "o": None},
                             {"id": 3, "v": 2.0, "ok": False, "o": None}]


def test_filters_and_marker(ctx, tmp_path):
    d = tmp_path / "flt"
    (d / "keep").mkdir(parents=True)
    (d / "skip").mkdir()
    for name in ("keep/a.csv", "keep/b.txt", "skip/c.csv", "keep/a.csv.md5"):
        (d / name).write_text(f"{name}\n")
    old = d / "keep" / "a.csv"
    os.utime(old, (1_000_000_000, 1_000_000_000))  # 2001-09-09
    base = dict(inputDirectory="flt", inputFormat="CSV_FILE", md5FileSuffix=".md5")
    t = read_all(ctx, **base, filterType="WILDCARD", pathFilter="keep", fileFilter="*.csv,*.txt")
    assert sorted(t.column(0).to_pylist()) == ["keep/a.csv", "keep/b.txt"]
    t = read_all(ctx, **base, filterType="TIME", startTime="2020-01-01 00:00:00")
    assert sorted(t.column(0).to_pylist()) == ["keep/b.txt", "skip/c.csv"]
    with pytest.raises(CdmError, match="Marker file"):
        read_all(ctx, **base, useMarkerFile="true", markerFile="ready", waitTime="1")
    (d / "ready").write_text("")
    assert read_all(ctx, **base, useMarkerFile="true", markerFile="ready", waitTime="1").num_rows == 3


def test_size_split_reads_every_line_once(ctx, tmp_path, monkeypatch):
    from opencdm.connectors.files import extract

    monkeypatch.setattr(extract, "MIN_PIECE", 1000)
    d = tmp_path / "big"
    d.mkdir()
    lines = [f"{i},{'x' * (i % 37)}" for i in range(20_000)]
    (d / "f.csv").write_text("id,pad\n" + "\n".join(lines) + "\n")
    ext = LOCAL.extractor({}, {"fromJobConfig.inputDirectory": "big", "fromJobConfig.inputFormat": "CSV_FILE",
                               "fromJobConfig.firstRowAsHeader": "true", "fromJobConfig.splitType": "SIZE"}, ctx)
    parts = ext.partitions(7)
    assert len(parts) == 7 and all(len(p.pieces) >= 1 for p in parts)
    ids = [int(v) for p in parts for b in ext.extract(p) for v in b.column("id").to_pylist()]
    assert sorted(ids) == list(range(20_000))
    assert sum(p.files for p in parts) == 1 and sum(p.size for p in parts) == (d / "f.csv").stat().st_size


def test_parquet_size_split_by_row_group(ctx, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from opencdm.connectors.files import extract

    monkeypatch.setattr(extract, "MIN_PIECE", 1)
    (tmp_path / "pq").mkdir()
    pq.write_table(pa.table({"n": list(range(10_000))}), tmp_path / "pq" / "a.parquet", row_group_size=1000)
    ext = LOCAL.extractor({}, {"fromJobConfig.inputDirectory": "pq", "fromJobConfig.inputFormat": "PARQUET_FILE",
                               "fromJobConfig.splitType": "SIZE"}, ctx)
    parts = ext.partitions(4)
    assert len(parts) == 4
    got = sorted(v for p in parts for b in ext.extract(p) for v in b.column("n").to_pylist())
    assert got == list(range(10_000))


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_binary_copy_keeps_names_folders_and_bytes(ctx, tmp_path):
    src = tmp_path / "bin"
    (src / "sub" / "deeper").mkdir(parents=True)
    payloads = {"a.bin": os.urandom(20 << 20), "sub/b.bin": b"", "sub/deeper/c.bin": os.urandom(12345)}
    for rel, data in payloads.items():
        (src / rel).write_bytes(data)
    results = run(ctx, {"inputDirectory": "bin", "inputFormat": "BINARY_FILE"},
                  {"outputDirectory": "copy", "outputFormat": "BINARY_FILE", "validateMD5": "true"})
    assert sum(r.files for r in results) == 3
    for rel, data in payloads.items():
        assert (tmp_path / "copy" / rel).read_bytes() == data
    assert not [p for p in (tmp_path / "copy").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("mode", ["REPLACE", "SKIP", "ABANDON"])
@pytest.mark.parametrize("temp", ["true", "false"])
def test_duplicate_file_op_type(ctx, tmp_path, mode, temp):
    src, dst = tmp_path / "s", tmp_path / "d"
    src.mkdir()
    dst.mkdir()
    (src / "same.bin").write_bytes(b"new-data")  # same name, same size as the existing one: a duplicate
    (src / "other.bin").write_bytes(b"longer new data")  # same name, other size: replaced in every mode
    (src / "fresh.bin").write_bytes(b"fresh")
    (dst / "same.bin").write_bytes(b"old-data")
    (dst / "other.bin").write_bytes(b"old")
    job = {"outputDirectory": "d", "outputFormat": "BINARY_FILE", "duplicateFileOpType": mode,
           "writeToTempFile": temp}
    if mode == "ABANDON":
        with pytest.raises(LoadFailed, match="ABANDON"):
            run(ctx, {"inputDirectory": "s", "inputFormat": "BINARY_FILE"}, job, parts=1)
        assert (dst / "same.bin").read_bytes() == b"old-data"
        if temp == "true":  # nothing was published
            assert sorted(p.name for p in dst.iterdir()) == ["other.bin", "same.bin"]
            assert (dst / "other.bin").read_bytes() == b"old"
        return
    results = run(ctx, {"inputDirectory": "s", "inputFormat": "BINARY_FILE"}, job, parts=1)
    assert (dst / "same.bin").read_bytes() == (b"new-data" if mode == "REPLACE" else b"old-data")
    assert (dst / "other.bin").read_bytes() == b"longer new data"
    assert (dst / "fresh.bin").read_bytes() == b"fresh"
    assert sum(r.skipped for r in results) == (1 if mode == "SKIP" else 0)


def test_temp_files_are_invisible_until_commit_and_gone_after_abort(ctx, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.csv").write_text("1,x\n2,y\n")
    ext = LOCAL.extractor({}, {"fromJobConfig.inputDirectory": "src", "fromJobConfig.inputFormat": "CSV_FILE"}, ctx)
    run_id = uuid.uuid4().hex
    loader = LOCAL.loader({}, {"toJobConfig.outputDirectory": "out", "toJobConfig.outputFormat": "CSV_FILE"},
                          ctx, run_id)
    loader.prepare(ext.schema())
    [part] = ext.partitions(1)
    loader.load(part, ext.extract(part))
    out = tmp_path / "out"
    assert [p.name for p in out.iterdir()] == [f".opencdm-tmp-{run_id}"]  # written, not visible
    # a restart's recovery builds a fresh loader for the run id and aborts it
    LOCAL.loader({}, {"toJobConfig.outputDirectory": "out", "toJobConfig.outputFormat": "CSV_FILE"},
                 ctx, run_id).abort()
    assert list(out.iterdir()) == []


def test_rolls_files_and_writes_marker(ctx, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.csv").write_text("".join(f"{i},{'y' * 200}\n" for i in range(30_000)))
    results = run(ctx, {"inputDirectory": "src", "inputFormat": "CSV_FILE"},
                  {"outputDirectory": "rolled", "outputFormat": "CSV_FILE", "writeFileSize": "1",
                   "filePrefix": "orders-", "markerFile": "_SUCCESS", "compression": "GZIP"}, parts=1)
    names = sorted(p.name for p in (tmp_path / "rolled").iterdir())
    assert "_SUCCESS" in names and names[1] == "orders-00000-000.csv.gz" and len(names) > 3
    assert results[0].files == len(names) - 1
    total = sum(len(gzip.decompress(p.read_bytes()).splitlines()) for p in (tmp_path / "rolled").glob("*.gz"))
    assert total == 30_000


def test_refused_inputs_are_errors_not_ignored(ctx):
    for bad in ({"toJobConfig.encryption": "KMS"}, {"toJobConfig.recordMD5Result": "true"},
                {"toJobConfig.copyContentType": "true"}, {"toJobConfig.filePrefix": "a/b"},
                {"toJobConfig.compression": "ZIP"}, {"toJobConfig.appendMode": "true"},
                {"toJobConfig.regexSeparator": "true", "toJobConfig.regex": ","}):
        with pytest.raises(CdmError) as err:
            LOCAL.check_job({}, {"toJobConfig.outputDirectory": "o", "toJobConfig.outputFormat": "CSV_FILE", **bad},
                            "to", ctx)
        assert err.value.code == "Cdm.0014", bad
    for bad in ({"fromJobConfig.inputFormat": "XML_FILE"},
                {"fromJobConfig.inputFormat": "CSV_FILE", "fromJobConfig.regexSeparator": "true"},
                {"fromJobConfig.inputFormat": "CSV_FILE", "fromJobConfig.regexSeparator": "true",
                 "fromJobConfig.regex": "(unclosed"},
                {"fromJobConfig.inputFormat": "CSV_FILE", "fromJobConfig.useMarkerFile": "true"},
                {"fromJobConfig.inputFormat": "CSV_FILE", "fromJobConfig.startTime": "${dateformat(yyyy)}",
                 "fromJobConfig.filterType": "TIME"},
                {"fromJobConfig.inputFormat": "CSV_FILE", "fromJobConfig.bucketName": "b"}):
        with pytest.raises(CdmError):
            LOCAL.check_job({}, {"fromJobConfig.inputDirectory": "i", **bad}, "from", ctx)


def test_csv_text_passes_through_to_a_loader_that_reads_csv(ctx, tmp_path):
    """The native CSV stream: headers dropped, every file's last line ended, rows counted by line."""
    d = tmp_path / "nat"
    d.mkdir()
    (d / "a.csv").write_text('id,name\n1,"x\ny"\n2,b')  # a quoted line break, no final newline
    (d / "b.csv").write_text("id,name\n3,c\n")
    ext = LOCAL.extractor({}, {"fromJobConfig.inputDirectory": "nat", "fromJobConfig.inputFormat": "CSV_FILE",
                               "fromJobConfig.firstRowAsHeader": "true"}, ctx)
    fmt = ext.native_format()
    assert fmt and fmt.startswith("text/csv")
    [part] = ext.partitions(1)
    text = b"".join(bytes(c.data) for c in ext.native_stream(part))
    assert text == b'1,"x\ny"\n2,b\n3,c\n'
    # layouts only Arrow reads right are not offered as text
    for extra in ({"fromJobConfig.quoteChar": "false"}, {"fromJobConfig.columnList": "1"},
                  {"fromJobConfig.regexSeparator": "true", "fromJobConfig.regex": ","}):
        ext = LOCAL.extractor({}, {"fromJobConfig.inputDirectory": "nat", "fromJobConfig.inputFormat": "CSV_FILE",
                                   **extra}, ctx)
        assert ext.native_format() is None, extra


def test_a_symlinked_output_folder_cannot_lead_out(ctx, tmp_path):
    outside = tmp_path.parent / f"outside-{uuid.uuid4().hex[:6]}"
    outside.mkdir()
    (tmp_path / "s" / "sub").mkdir(parents=True)
    (tmp_path / "s" / "sub" / "x.bin").write_bytes(b"data")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "sub").symlink_to(outside)  # d/sub/x.bin would land outside the root
    for temp in ("true", "false"):
        with pytest.raises(CdmError) as err:
            run(ctx, {"inputDirectory": "s", "inputFormat": "BINARY_FILE"},
                {"outputDirectory": "d", "outputFormat": "BINARY_FILE", "writeToTempFile": temp}, parts=1)
        assert err.value.code == "Cdm.0014"
    assert list(outside.iterdir()) == []


def test_obs_link_scheme_and_signing_region():
    from opencdm.connectors.files.obs import ObsLink

    def link(server: str, port: str) -> ObsLink:
        return ObsLink.parse({"linkConfig.storageType": "OBS", "linkConfig.server": server, "linkConfig.port": port,
                              "linkConfig.accessKey": "ak", "linkConfig.securityKey": "sk"})

    assert (link("obs.cn-north-4.myhuaweicloud.com", "443").scheme, link("h", "80").scheme) == ("https", "http")
    assert link("http://10.0.0.5", "9000").scheme == "http" and link("10.0.0.5", "9000").scheme == "https"
    assert link("obs.cn-north-4.myhuaweicloud.com", "443").region == "cn-north-4"
    assert link("s3.eu-west-1.amazonaws.com", "443").region == "eu-west-1"
    assert link("minio.internal", "9000").region == "us-east-1"
    for bad in ("http://", "a/b", "user@host"):
        with pytest.raises(CdmError):
            link(bad, "443")
