"""The file connectors against real servers the tests start: Ceph RGW (S3), OpenSSH's sftp and a
pyftpdlib FTP server. Tables to Parquet and back, CSV into PostgreSQL, binary copies both ways,
temporary files, and bad credentials."""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass

import psycopg
import pyarrow.fs as pafs
import pytest

from opencdm.connectors import get
from opencdm.connectors.base import ConnectorContext
from opencdm.errors import CdmError
from tests.infra.data import checksums, make_mixed_table

JDBC, LOCAL = get("generic-jdbc-connector"), get("local-file-connector")


@dataclass
class Store:
    """One file store as a test sees it: its connector, link inputs, where job paths start, and a raw fs."""

    name: str
    connector: str
    link: dict
    bucket: str | None
    folder: str  # a fresh folder for this test, as a job names it
    fs: pafs.FileSystem
    fs_root: str  # ``folder`` as a path of ``fs``

    def job(self, side: str, **values: str) -> dict:
        out = {f"{side}.{k}": v for k, v in values.items()}
        if self.bucket:
            out[f"{side}.bucketName"] = self.bucket
        return out

    def visible(self, sub: str) -> list[str]:
        sel = pafs.FileSelector(f"{self.fs_root}/{sub}", recursive=True, allow_not_found=True)
        return sorted(i.path.split(f"{self.fs_root}/{sub}/", 1)[1] for i in self.fs.get_file_info(sel)
                      if i.type == pafs.FileType.File and "/." not in "/" + i.path.split(f"/{sub}/", 1)[1])

    def all_entries(self, sub: str) -> list[str]:
        sel = pafs.FileSelector(f"{self.fs_root}/{sub}", recursive=True, allow_not_found=True)
        return sorted(i.path for i in self.fs.get_file_info(sel))


@pytest.fixture(params=["obs", "sftp", "ftp"])
def store(request) -> Store:
    tag = uuid.uuid4().hex[:8]
    if request.param == "obs":
        s3 = request.getfixturevalue("s3_server")
        bucket = s3.make_bucket()
        link = dict(s3.link_inputs(), **{"linkConfig.server": f"http://{s3.link_inputs()['linkConfig.server']}"})
        return Store("obs", "obs-connector", link, bucket, f"/t{tag}", s3.client(), f"{bucket}/t{tag}")
    server = request.getfixturevalue(f"{request.param}_server")
    home = str(server.home).rstrip("/")
    if request.param == "sftp":
        from fsspec.implementations.sftp import SFTPFileSystem

        raw = SFTPFileSystem(server.host, port=server.port, username=server.username, password=server.password,
                             look_for_keys=False, allow_agent=False)
        folder = f"{home}/t{tag}"
    else:
        from fsspec.implementations.ftp import FTPFileSystem

        raw = FTPFileSystem(server.host, port=server.port, username=server.username, password=server.password,
                            skip_instance_cache=True, use_listings_cache=False)
        folder = f"/t{tag}"  # FTP paths start at the user's home
    return Store(request.param, f"{request.param}-connector", server.link_inputs(), None, folder,
                 pafs.PyFileSystem(pafs.FSSpecHandler(raw)), folder)


@pytest.fixture
def ctx(tmp_path) -> ConnectorContext:
    return ConnectorContext(file_root=str(tmp_path), allowed_dirs=(str(tmp_path),))


def run(src, src_link, fjob, dst, dst_link, tjob, ctx, parts=2):
    ext = get(src).extractor(src_link, fjob, ctx)
    loader = get(dst).loader(dst_link, tjob, ctx, uuid.uuid4().hex)
    loader.prepare(ext.schema())
    fmt = ext.native_format()
    native = fmt is not None and loader.accepts_native(fmt)
    try:
        results = [loader.load_native(p, ext.native_stream(p), fmt) if native else loader.load(p, ext.extract(p))
                   for p in ext.partitions(parts)]
        loader.commit(results)
    except BaseException:
        loader.abort()
        raise
    return results, native


def test_link_check_and_wrong_password(store, ctx):
    get(store.connector).check_link(store.link, ctx)
    key = "linkConfig.securityKey" if store.name == "obs" else "linkConfig.password"
    with pytest.raises(CdmError) as err:
        get(store.connector).check_link(dict(store.link, **{key: "wrong"}), ctx)
    assert err.value.code in ("Cdm.0950", "Cdm.0901"), err.value


def test_binary_copy_there_and_back(store, ctx, tmp_path):
    src = tmp_path / "tree"
    (src / "a" / "b").mkdir(parents=True)
    files = {"big.bin": os.urandom(12 << 20), "a/small.txt": b"hello\n", "a/b/empty": b""}
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    results, native = run("local-file-connector", {}, {"fromJobConfig.inputDirectory": "tree",
                                                        "fromJobConfig.inputFormat": "BINARY_FILE"},
                          store.connector, store.link, store.job("toJobConfig", outputDirectory=f"{store.folder}/bin",
                                                                 outputFormat="BINARY_FILE", validateMD5="true"), ctx)
    assert native and sum(r.files for r in results) == 3
    assert store.visible("bin") == sorted(files)
    results, _ = run(store.connector, store.link, store.job("fromJobConfig", inputDirectory=f"{store.folder}/bin",
                                                            inputFormat="BINARY_FILE"),
                     "local-file-connector", {}, {"toJobConfig.outputDirectory": "back",
                                                  "toJobConfig.outputFormat": "BINARY_FILE"}, ctx)
    for rel, data in files.items():
        assert hashlib.md5((tmp_path / "back" / rel).read_bytes()).digest() == hashlib.md5(data).digest(), rel


def test_table_to_parquet_to_table(store, ctx, pg):
    db = pg.create_database()
    make_mixed_table(pg.dsn(db), "src", 5000)
    link = pg.link_inputs(db)
    run("generic-jdbc-connector", link, {"fromJobConfig.schemaName": "public", "fromJobConfig.tableName": "src",
                                         "fromJobConfig.partitionColumn": "id"},
        store.connector, store.link, store.job("toJobConfig", outputDirectory=f"{store.folder}/pq",
                                               outputFormat="PARQUET_FILE"), ctx, parts=3)
    assert len(store.visible("pq")) == 3
    run(store.connector, store.link, store.job("fromJobConfig", inputDirectory=f"{store.folder}/pq",
                                               inputFormat="PARQUET_FILE"),
        "generic-jdbc-connector", link, {"toJobConfig.schemaName": "public", "toJobConfig.tableName": "copy",
                                         "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}, ctx)
    assert checksums(pg.dsn(db), "copy") == checksums(pg.dsn(db), "src")


def test_csv_into_postgresql_as_text(store, ctx, pg, tmp_path):
    db = pg.create_database()
    make_mixed_table(pg.dsn(db), "src", 3000)
    link = pg.link_inputs(db)
    run("generic-jdbc-connector", link, {"fromJobConfig.schemaName": "public", "fromJobConfig.tableName": "src",
                                         "fromJobConfig.partitionColumn": "id"},
        store.connector, store.link, store.job("toJobConfig", outputDirectory=f"{store.folder}/csv",
                                               outputFormat="CSV_FILE", firstRowAsHeader="true",
                                               compression="GZIP"), ctx)
    with psycopg.connect(pg.dsn(db), autocommit=True) as conn:
        conn.execute("CREATE TABLE copy (LIKE src INCLUDING ALL)")
    _, native = run(store.connector, store.link, store.job("fromJobConfig", inputDirectory=f"{store.folder}/csv",
                                                           inputFormat="CSV_FILE", firstRowAsHeader="true",
                                                           fromCompression="GZIP"),
                    "generic-jdbc-connector", link, {"toJobConfig.schemaName": "public", "toJobConfig.tableName": "copy",
                                                     "toJobConfig.tablePreparation": "DO_NOTHING"}, ctx)
    assert native  # the CSV text went to COPY
    assert checksums(pg.dsn(db), "copy") == checksums(pg.dsn(db), "src")


def test_failed_run_leaves_no_visible_file(store, ctx, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("1,x\n2,y\n")
    ext = LOCAL.extractor({}, {"fromJobConfig.inputDirectory": "in", "fromJobConfig.inputFormat": "CSV_FILE"}, ctx)
    loader = get(store.connector).loader(store.link, store.job("toJobConfig", outputDirectory=f"{store.folder}/tmp",
                                                               outputFormat="CSV_FILE"), ctx, uuid.uuid4().hex)
    loader.prepare(ext.schema())
    [part] = ext.partitions(1)
    loader.load(part, ext.extract(part))
    assert store.visible("tmp") == [] and store.all_entries("tmp")  # written, hidden
    loader.abort()  # the run failed after this partition: its hidden folder goes, nothing was published
    assert not any(".opencdm-tmp-" in e for e in store.all_entries("tmp")) and store.visible("tmp") == []


def test_leading_slash_is_optional_on_obs(ctx, s3_server, tmp_path):
    bucket = s3_server.make_bucket()
    link = dict(s3_server.link_inputs(), **{"linkConfig.server": f"http://{s3_server.link_inputs()['linkConfig.server']}"})
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "f.bin").write_bytes(b"x" * 10)
    for out in ("/lead/dir", "lead/dir/"):
        run("local-file-connector", {}, {"fromJobConfig.inputDirectory": "in", "fromJobConfig.inputFormat": "BINARY_FILE"},
            "obs-connector", link, {"toJobConfig.bucketName": bucket, "toJobConfig.outputDirectory": out,
                                    "toJobConfig.outputFormat": "BINARY_FILE"}, ctx)
    info = s3_server.client().get_file_info(f"{bucket}/lead/dir/f.bin")
    assert info.size == 10
