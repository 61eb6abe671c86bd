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
from opencdm.connectors.inputs import InputDef, boolean, enum, integer, string
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
        if not reading:  # a writer has no use for it: refused rather than ignored
            raise InvalidInput(f"{side}.regexSeparator applies to reading; files are written with fieldSeparator.",
                               code="Cdm.0014")
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
        _refuse(job, f"{side}.encryption")
        for name in (f"{side}.recordMD5Result", f"{side}.copyContentType", f"{side}.appendMode"):
            if config.get_bool(job, name):
                raise InvalidInput(f"{name} is not supported by opencdm's file connectors.", code="Cdm.0014")
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


def _text_inputs(side: str, *, reading: bool) -> tuple[InputDef, ...]:
    """What ``_text`` reads, for either side."""
    regex = (boolean(f"{side}.regexSeparator", "Split lines into fields with the regular expression in regex."),
             string(f"{side}.regex", "The regular expression; required when regexSeparator is true."))
    return (
        string(f"{side}.fieldSeparator", "The CSV field separator; escapes such as \\t are accepted.", default=","),
        string(f"{side}.lineSeparator", "The line separator; default any of \\n, \\r\\n and \\r." if reading
               else "The line separator.", default=None if reading else "\\r\\n"),
        *(regex if reading else ()),
        boolean(f"{side}.quoteChar", "CSV values are quoted with double quotes.", default=True),
        boolean(f"{side}.firstRowAsHeader", "The first line of a CSV file holds the column names."),
        string(f"{side}.encodeType", "The text encoding (UTF-8, GBK, any Python codec).", default="UTF-8"),
    )


def bucket_inputs(inputs: tuple[InputDef, ...]) -> tuple[InputDef, ...]:
    """``inputs`` of a store whose paths start with a bucket (OBS): ``bucketName`` first, required."""
    side = inputs[0].name.partition(".")[0]
    return (string(f"{side}.bucketName", "The bucket the directories are in.", required=True), *inputs)


#: The job inputs every file connector takes (``bucket_inputs`` adds the bucket for OBS).
FROM_INPUTS = (
    string("fromJobConfig.inputDirectory", "Directories or files to read, joined by fileSeparator (up to "
                                           f"{MAX_INPUT_PATHS}).", required=True),
    string("fromJobConfig.fileSeparator", "Separator of the paths in inputDirectory.", default="|"),
    enum("fromJobConfig.inputFormat", FORMATS, "The files' format.", required=True),
    *_text_inputs("fromJobConfig", reading=True),
    enum("fromJobConfig.fromCompression", FROM_COMPRESSIONS, "How the files are compressed.", default="NONE"),
    string("fromJobConfig.jsonReferenceNode", "JSON: the path of the array holding the records; default JSON lines."),
    string("fromJobConfig.columnList", "Columns to read by number from 1, joined by &; default every column."),
    enum("fromJobConfig.filterType", ("WILDCARD", "TIME"), "Filter files by name patterns or by modification time."),
    string("fromJobConfig.pathFilter", "WILDCARD: a pattern folders must match."),
    string("fromJobConfig.fileFilter", "WILDCARD: patterns file names must match, comma-separated."),
    string("fromJobConfig.startTime", "TIME: files modified at or after, yyyy-MM-dd HH:mm:ss UTC."),
    string("fromJobConfig.endTime", "TIME: files modified before, yyyy-MM-dd HH:mm:ss UTC."),
    boolean("fromJobConfig.useMarkerFile", "Wait for markerFile in the first input directory before reading."),
    string("fromJobConfig.markerFile", "The marker file's name; required when useMarkerFile is true."),
    integer("fromJobConfig.waitTime", "Seconds to wait for the marker file before the run fails.", default=0),
    string("fromJobConfig.md5FileSuffix", "Check each file against its side file with this suffix (e.g. .md5)."),
    enum("fromJobConfig.splitType", ("FILE", "SIZE"), "SIZE: large CSV and Parquet files are also cut into "
                                                      "byte ranges.", default="FILE"),
)
TO_INPUTS = (
    string("toJobConfig.outputDirectory", "The directory files are written to.", required=True),
    enum("toJobConfig.outputFormat", FORMATS, "The files' format.", required=True),
    *_text_inputs("toJobConfig", reading=False),
    enum("toJobConfig.compression", tuple(dict.fromkeys(TEXT_COMPRESSIONS + CODECS)),
         "Text: NONE, GZIP, BZIP2, ZSTD or LZ4 (default NONE); Parquet: its codec (default SNAPPY)."),
    integer("toJobConfig.writeFileSize", "MB after which a new file starts; 0: one file per partition.", default=0),
    string("toJobConfig.filePrefix", "Prefix of the file names written.", default="part-"),
    enum("toJobConfig.duplicateFileOpType", DUPLICATES, "What to do with a file of the same name and size.",
         default="REPLACE"),
    boolean("toJobConfig.writeToTempFile", "Write into a hidden folder, moved into place when the run succeeds.",
            default=True),
    string("toJobConfig.markerFile", "An empty file written after a successful run."),
    boolean("toJobConfig.validateMD5", "BINARY_FILE: re-read each written file and compare its MD5."),
    string("toJobConfig.columnList", "Names for the written columns, by position, joined by &."),
)

__all__ = ["BINARY", "CSV", "JSON", "PARQUET", "FileFrom", "FileTo"]
