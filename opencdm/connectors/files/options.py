"""The FROM and TO job inputs every file connector shares (spec §11.2–§11.4, §12.2), parsed once
into frozen objects. Each connector's own link class (``obs``, ``sftp``, ``ftp``, ``local``) says
whether its paths start with a bucket; nothing else differs between them.

Inputs CDM documents that opencdm does not carry out (KMS encryption, MD5 result files, content
types) are refused with a clear error when set, never accepted and ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from opencdm.connectors import config
from opencdm.connectors.base import Inputs
from opencdm.connectors.formats import BINARY, CSV, FORMATS, JSON, PARQUET, TextOptions, encoding, unescape
from opencdm.connectors.formats.parquet import CODECS
from opencdm.errors import InvalidInput

FROM_COMPRESSIONS = ("NONE", "GZIP", "ZIP")
TEXT_COMPRESSIONS = ("NONE", "GZIP", "BZIP2", "ZSTD", "LZ4")
DUPLICATES = ("REPLACE", "SKIP", "ABANDON")
MAX_INPUT_PATHS = 50


def _text(job: Inputs, side: str, *, reading: bool) -> TextOptions:
    config.get_str(job, f"{side}.fieldSeparator")  # a string or nothing; taken verbatim below (a blank may be one)
    line = job.get(f"{side}.lineSeparator")
    if line is not None and not isinstance(line, str):
        raise config.invalid(f"{side}.lineSeparator", line, "a string")
    regex = None
    if config.get_bool(job, f"{side}.regexSeparator"):
        config.require(job, f"{side}.regex")
        regex = config.get_str(job, f"{side}.regex")
        try:
            re.compile(regex)
        except re.error as exc:
            raise config.invalid(f"{side}.regex", regex, f"a regular expression ({exc})") from None
    raw_sep = job.get(f"{side}.fieldSeparator")
    field_sep = unescape(raw_sep) if raw_sep else ","
    return TextOptions(
        field_sep=field_sep,
        line_sep=unescape(line) if line else (None if reading else "\r\n"),
        quote=config.get_bool(job, f"{side}.quoteChar", True),
        header=config.get_bool(job, f"{side}.firstRowAsHeader"),
        encoding=encoding(config.get_str(job, f"{side}.encodeType"), f"{side}.encodeType"),
        regex=regex)


def _time(job: Inputs, name: str) -> float | None:
    value = config.get_str(job, name)
    if value is None:
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp()
    except ValueError:
        raise config.invalid(name, value, "a time as yyyy-MM-dd HH:mm:ss (UTC)") from None


def _bucket(job: Inputs, side: str, buckets: bool) -> str | None:
    name = f"{side}.bucketName"
    if not buckets:
        if config.given(job, name):
            raise InvalidInput(f"{name}: this connector has no buckets.", code="Cdm.0014")
        return None
    config.require(job, name)
    return config.get_str(job, name)


def _refuse(job: Inputs, name: str, allowed: tuple[str, ...] = ("", "NONE", "false")) -> None:
    value = job.get(name)
    if value not in (None, False) and str(value).strip() not in allowed and str(value).strip().upper() not in allowed:
        raise InvalidInput(f"{name} is not supported by opencdm's file connectors.", code="Cdm.0014")


@dataclass(frozen=True)
class FileFrom:
    """``fromJobConfig.*`` of a file source."""

    bucket: str | None
    directories: tuple[str, ...]
    format: str
    text: TextOptions
    compression: str = "NONE"
    json_node: str | None = None
    columns: tuple[int, ...] = ()  # 1-based column numbers (columnList)
    filter_type: str | None = None
    path_filter: str | None = None
    file_filters: tuple[str, ...] = ()
    start_time: float | None = None
    end_time: float | None = None
    marker_file: str | None = None
    wait_time: float = 0.0
    md5_suffix: str | None = None
    split_type: str = "FILE"

    @classmethod
    def parse(cls, job: Inputs, link) -> FileFrom:
        side = "fromJobConfig"
        config.require(job, f"{side}.inputDirectory", f"{side}.inputFormat")
        sep = unescape(config.get_str(job, f"{side}.fileSeparator") or "|")
        directories = tuple(p.strip() for p in config.get_str(job, f"{side}.inputDirectory").split(sep) if p.strip())
        if not directories or len(directories) > MAX_INPUT_PATHS:
            raise config.invalid(f"{side}.inputDirectory", len(directories), f"1 to {MAX_INPUT_PATHS} paths")
        fmt = config.get_enum(job, f"{side}.inputFormat", FORMATS)
        columns: list[int] = []
        for item in config.get_list(job, f"{side}.columnList"):
            if not item.isdigit() or int(item) < 1:
                raise config.invalid(f"{side}.columnList", item, "column numbers from 1, joined with &")
            columns.append(int(item))
        filter_type = config.get_enum(job, f"{side}.filterType", ("WILDCARD", "TIME"))
        marker = config.get_str(job, f"{side}.markerFile") if config.get_bool(job, f"{side}.useMarkerFile") else None
        if config.get_bool(job, f"{side}.useMarkerFile") and not marker:
            config.require(job, f"{side}.markerFile")
        compression = config.get_enum(job, f"{side}.fromCompression", FROM_COMPRESSIONS, "NONE")
        split = config.get_enum(job, f"{side}.splitType", ("FILE", "SIZE"), "FILE")
        _refuse(job, f"{side}.decryption")
        _refuse(job, f"{side}.createSnapshot")
        return cls(
            bucket=_bucket(job, side, link.buckets), directories=directories, format=fmt,
            text=_text(job, side, reading=True), compression=compression,
            json_node=config.get_str(job, f"{side}.jsonReferenceNode"), columns=tuple(columns),
            filter_type=filter_type,
            path_filter=config.get_str(job, f"{side}.pathFilter") if filter_type == "WILDCARD" else None,
            file_filters=tuple(config.get_list(job, f"{side}.fileFilter", ",")) if filter_type == "WILDCARD" else (),
            start_time=_time(job, f"{side}.startTime") if filter_type == "TIME" else None,
            end_time=_time(job, f"{side}.endTime") if filter_type == "TIME" else None,
            marker_file=marker, wait_time=float(config.get_int(job, f"{side}.waitTime", 0) or 0),
            md5_suffix=config.get_str(job, f"{side}.md5FileSuffix"), split_type=split)


@dataclass(frozen=True)
class FileTo:
    """``toJobConfig.*`` of a file destination."""

    bucket: str | None
    directory: str
    format: str
    text: TextOptions
    compression: str = "NONE"
    write_file_size: int = 0  # bytes; 0: one file per partition
    file_prefix: str = ""
    duplicate: str = "REPLACE"
    temp: bool = True
    marker_file: str | None = None
    validate_md5: bool = False
    columns: tuple[str, ...] = ()

    @classmethod
    def parse(cls, job: Inputs, link) -> FileTo:
        side = "toJobConfig"
        config.require(job, f"{side}.outputDirectory", f"{side}.outputFormat")
        fmt = config.get_enum(job, f"{side}.outputFormat", FORMATS)
        codecs = CODECS if fmt == PARQUET else TEXT_COMPRESSIONS
        compression = config.get_enum(job, f"{side}.compression", codecs, "SNAPPY" if fmt == PARQUET else "NONE")
        if fmt == BINARY and compression != "NONE":
            raise InvalidInput(f"{side}.compression: a binary copy keeps the bytes as they are.", code="Cdm.0014")
        size_mb = config.get_int(job, f"{side}.writeFileSize", 0) or 0
        if size_mb < 0:
            raise config.invalid(f"{side}.writeFileSize", size_mb, "a size in MB")
        prefix = config.get_str(job, f"{side}.filePrefix") or ""
        if "/" in prefix or "\\" in prefix or prefix in (".", ".."):
            raise InvalidInput(f"{side}.filePrefix must be a plain file-name prefix.", code="Cdm.0014")
        marker = config.get_str(job, f"{side}.markerFile")
        if marker and ("/" in marker or marker in (".", "..")):
            raise config.invalid(f"{side}.markerFile", marker, "a file name")
        for name in ("encryption",):
            _refuse(job, f"{side}.{name}")
        for name in ("recordMD5Result", "copyContentType", "appendMode"):
            if config.get_bool(job, f"{side}.{name}"):
                raise InvalidInput(f"{side}.{name} is not supported by opencdm's file connectors.", code="Cdm.0014")
        validate = config.get_bool(job, f"{side}.validateMD5")
        if validate and fmt != BINARY:
            raise InvalidInput(f"{side}.validateMD5 applies to binary copies (outputFormat BINARY_FILE).",
                               code="Cdm.0014")
        return cls(
            bucket=_bucket(job, side, link.buckets), directory=config.get_str(job, f"{side}.outputDirectory"),
            format=fmt, text=_text(job, side, reading=False), compression=compression,
            write_file_size=size_mb << 20, file_prefix=prefix,
            duplicate=config.get_enum(job, f"{side}.duplicateFileOpType", DUPLICATES, "REPLACE"),
            temp=config.get_bool(job, f"{side}.writeToTempFile", True), marker_file=marker, validate_md5=validate,
            columns=tuple(config.get_list(job, f"{side}.columnList")))


__all__ = ["BINARY", "CSV", "JSON", "PARQUET", "FileFrom", "FileTo"]
