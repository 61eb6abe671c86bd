"""Smoke tests of the file servers the connector tests use: a real round trip on each."""

from __future__ import annotations

import hashlib
import os
import uuid

import fsspec
import paramiko
from pyarrow import fs as pafs

from tests.infra.ceph import S3Server
from tests.infra.ftp import FtpServer
from tests.infra.sshd import SftpServer


def test_s3_round_trip(s3_server: S3Server) -> None:
    s3 = s3_server.client()
    bucket = s3_server.make_bucket()
    data = os.urandom(12 << 20)
    with s3.open_output_stream(f"{bucket}/dir/big.bin") as f:  # 12 MiB: a multipart upload
        for i in range(0, len(data), 1 << 20):
            f.write(data[i:i + (1 << 20)])
    with s3.open_input_stream(f"{bucket}/dir/big.bin") as f:
        assert hashlib.md5(f.read()).digest() == hashlib.md5(data).digest()
        etag = f.metadata()["ETag"].decode()
    assert etag.rstrip('"').rsplit("-", 1)[1] != "1"  # more than one part

    with s3.open_output_stream(f"{bucket}/dir/small.txt") as f:
        f.write(b"hello")
    listed = {i.path: i.size for i in s3.get_file_info(pafs.FileSelector(bucket, recursive=True))
              if i.type == pafs.FileType.File}
    assert listed == {f"{bucket}/dir/big.bin": 12 << 20, f"{bucket}/dir/small.txt": 5}

    s3.move(f"{bucket}/dir/small.txt", f"{bucket}/moved.txt")
    assert s3.get_file_info(f"{bucket}/dir/small.txt").type == pafs.FileType.NotFound
    with s3.open_input_stream(f"{bucket}/moved.txt") as f:
        assert f.read() == b"hello"

    s3.delete_file(f"{bucket}/moved.txt")
    s3.delete_dir_contents(bucket)
    assert s3.get_file_info(pafs.FileSelector(bucket, recursive=True)) == []
    s3.delete_dir(bucket)
    assert s3.get_file_info(bucket).type == pafs.FileType.NotFound
    assert s3_server.link_inputs()["linkConfig.port"] == str(s3_server.port)


def test_sftp_round_trip(sftp_server: SftpServer) -> None:
    name = f"t-{uuid.uuid4().hex[:8]}"
    data = os.urandom(3 << 20)
    with paramiko.SSHClient() as ssh:
        ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        ssh.connect(sftp_server.host, port=sftp_server.port, username=sftp_server.username,
                    password=sftp_server.password, look_for_keys=False, allow_agent=False)
        with ssh.open_sftp() as sftp:
            sftp.mkdir(name)
            with sftp.open(f"{name}/a.bin", "wb") as f:
                f.set_pipelined(True)  # do not wait for each 32 KiB write's answer
                f.write(data)
            with sftp.open(f"{name}/a.bin", "rb") as f:
                assert f.read() == data
            assert sftp.listdir(name) == ["a.bin"]
    assert (sftp_server.home / name / "a.bin").read_bytes() == data

    fs = fsspec.filesystem("sftp", host=sftp_server.host, port=sftp_server.port, username=sftp_server.username,
                           password=sftp_server.password, look_for_keys=False, allow_agent=False,
                           skip_instance_cache=True)
    base = f"{sftp_server.home}/{name}"
    fs.pipe_file(f"{base}/b.txt", b"hello")
    assert fs.cat_file(f"{base}/b.txt") == b"hello"
    assert sorted(fs.ls(base, detail=False)) == [f"{base}/a.bin", f"{base}/b.txt"]
    fs.mv(f"{base}/b.txt", f"{base}/c.txt")
    assert fs.cat_file(f"{base}/c.txt") == b"hello"
    fs.rm(base, recursive=True)
    assert not fs.exists(base)
    assert sftp_server.link_inputs()["linkConfig.username"] == sftp_server.username


def test_ftp_round_trip(ftp_server: FtpServer) -> None:
    fs = fsspec.filesystem("ftp", host=ftp_server.host, port=ftp_server.port, username=ftp_server.username,
                           password=ftp_server.password, skip_instance_cache=True)
    data = os.urandom(3 << 20)
    fs.makedirs("/d", exist_ok=True)
    with fs.open("/d/a.bin", "wb") as f:
        f.write(data)
    with fs.open("/d/a.bin", "rb") as f:
        assert f.read() == data
    fs.pipe_file("/d/b.txt", b"hello")
    # fsspec's FTP ls(detail=False) gives bare names; the detailed entries carry full paths
    assert sorted(e["name"] for e in fs.ls("/d")) == ["/d/a.bin", "/d/b.txt"]
    assert fs.info("/d/a.bin")["size"] == len(data)
    fs.mv("/d/b.txt", "/d/c.txt")
    assert fs.cat_file("/d/c.txt") == b"hello"
    assert (ftp_server.home / "d" / "c.txt").read_bytes() == b"hello"
    fs.rm("/d/c.txt")
    fs.rm("/d/a.bin")
    assert fs.ls("/d") == []
    fs.rmdir("/d")
    assert not fs.exists("/d")
    assert ftp_server.link_inputs()["linkConfig.port"] == str(ftp_server.port)
