"""FROM side of every file connector: list once on the server, split into pieces (a file, a byte
range of a large text file cut on line ends, or row groups of a Parquet file), read pieces as
Arrow batches on the workers, or stream their bytes unchanged for a BINARY_FILE copy."""

from __future__ import annotations

import hashlib
import io
from collections import deque
from concurrent.futures import ThreadPoolExecutor
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, BinaryIO

import pyarrow as pa

from opencdm.connectors.arrow import POSITIONAL_KEY, conform
from opencdm.connectors.base import Chunk, ConnectorContext, DirtyRows, Extractor, Inputs, Partition
from opencdm.connectors.files.options import BINARY, CSV, JSON, PARQUET, FileFrom
from opencdm.connectors.files.store import FileLink, Listed, guarded, list_files, wait_for_marker
from opencdm.connectors.formats import csv as csvfmt
from opencdm.connectors.formats import json as jsonfmt
from opencdm.connectors.formats import parquet as pqfmt
from opencdm.errors import ExtractFailed, InvalidInput

CHUNK_BYTES = 4 << 20  # bytes per native chunk of a binary copy
READ_AHEAD = 2  # ranges of one file fetched at once in a binary copy (memory: this x CHUNK_BYTES)
MIN_PIECE = 16 << 20  # a SIZE split never cuts pieces smaller than this
NATIVE_FORMAT = "opencdm.binary-file"  # raw bytes, a Chunk.name starting each file


@dataclass(frozen=True)
class Piece:
    """A whole file, a byte range ``[start, end)`` of one (lines starting inside it), or row groups."""

    file: Listed
    start: int = 0
    end: int | None = None
    row_groups: tuple[int, ...] | None = None


@dataclass(frozen=True)
class FileSplit(Partition):
    """Pieces read in order by one extractor, and the layout every piece is read with."""

    pieces: tuple[Piece, ...] = ()
    names: tuple[str, ...] = ()  # every column of a CSV file, in file order
    layout: bytes = b""  # the output schema, serialised (so workers need not sample files again)

    @property
    def files(self) -> int:
        return sum(1 for p in self.pieces if _starts_file(p))

    @property
    def size(self) -> int:
        return sum(_piece_size(p) if p.row_groups is None else p.file.size if _starts_file(p) else 0
                   for p in self.pieces)


class FileExtractor(Extractor):
    def __init__(self, store: FileLink, link: Inputs, job: Inputs, ctx: ConnectorContext) -> None:
        super().__init__(link, job, ctx)
        self.store = store
        self.cfg = FileFrom.parse(job, store)

    @cached_property
    def fs(self) -> Any:
        return self.store.filesystem(self.ctx)

    def _bases(self) -> list[str]:
        return [self.store.location(self.cfg.bucket, d, self.ctx, "fromJobConfig.inputDirectory")
                for d in self.cfg.directories]

    @cached_property
    def listing(self) -> list[Listed]:
        bases = self._bases()
        if self.cfg.marker_file:
            wait_for_marker(self.fs, bases[0], self.cfg.marker_file, self.cfg.wait_time)
        files: list[Listed] = []
        for base in bases:
            files.extend(list_files(self.fs, self.store, self.ctx, base, self.cfg))
        return files

    # -- server side ----------------------------------------------------------------------------

    @cached_property
    def _layout(self) -> tuple[tuple[str, ...], pa.Schema]:
        fmt, cfg = self.cfg.format, self.cfg
        if fmt == BINARY:
            return (), pa.schema([("file", pa.string()), ("content", pa.binary())])
        if not self.listing:
            raise ExtractFailed(f"No file to read in {', '.join(cfg.directories)} (with the job's filters).")
        first = self.listing[0]
        if fmt == CSV:
            row = next((csvfmt.first_row(s, cfg.text) for s in self._streams(Piece(first))), [])
            names = _header_names(row) if cfg.text.header else csvfmt.names_for(len(row))
            schema = pa.schema([(n, pa.string()) for n in names],
                               metadata=None if cfg.text.header else {POSITIONAL_KEY: b"true"})
        elif fmt == JSON:
            sample: list[dict] = []
            for stream in self._streams(Piece(first)):
                for rec in jsonfmt.records(stream, cfg.text.encoding, cfg.json_node):
                    sample.append(rec)
                    if len(sample) >= jsonfmt.SAMPLE:
                        break
            names, schema = (), jsonfmt.infer(sample)
        else:
            with guarded(lambda: self.fs.open_input_file(first.path), first.path, ExtractFailed) as f:
                schema = pqfmt.open_file(f).schema_arrow
            names = ()
        if cfg.columns:
            if max(cfg.columns) > len(schema):
                raise InvalidInput(f"fromJobConfig.columnList names column {max(cfg.columns)} but the first file "
                                   f"has {len(schema)}.", code="Cdm.0014")
            schema = pa.schema([schema.field(i - 1) for i in cfg.columns], metadata=schema.metadata)
        if not len(schema):
            raise ExtractFailed(f"The first file [{first.rel}] has no columns.")
        return tuple(names), schema

    def schema(self) -> pa.Schema:
        return self._layout[1]

    def native_format(self) -> str | None:
        """Binary copies stream bytes; CSV that a loader can parse itself (all columns, quoted, no
        regular expression) is offered as its text."""
        if self.cfg.format == BINARY:
            return NATIVE_FORMAT
        if self.cfg.format == CSV and not self.cfg.columns:
            return csvfmt.native_format(self.cfg.text)
        return None

    def partitions(self, max_partitions: int) -> list[Partition]:
        names, schema = self._layout
        pieces = self._pieces(max(1, max_partitions))
        groups: list[list[Piece]] = [[] for _ in range(max(1, min(max_partitions, len(pieces))))]
        loads = [0] * len(groups)
        for piece in sorted(pieces, key=_piece_size, reverse=True):  # biggest first, onto the lightest
            i = loads.index(min(loads))
            groups[i].append(piece)
            loads[i] += _piece_size(piece)
        layout = schema.serialize().to_pybytes()
        order = {id(p): n for n, p in enumerate(pieces)}
        return [FileSplit(i, tuple(sorted(g, key=lambda p: order[id(p)])), names, layout)
                for i, g in enumerate(groups) if g] or [FileSplit(0, (), names, layout)]

    def _pieces(self, max_partitions: int) -> list[Piece]:
        files, cfg = self.listing, self.cfg
        if cfg.split_type != "SIZE" or cfg.format in (BINARY, JSON) or cfg.compression != "NONE":
            return [Piece(f) for f in files]
        target = max(MIN_PIECE, sum(f.size for f in files) // max_partitions + 1)
        out: list[Piece] = []
        for f in files:
            if f.size <= target:
                out.append(Piece(f))
            elif cfg.format == CSV:
                out.extend(Piece(f, lo, min(lo + target, f.size)) for lo in range(0, f.size, target))
            else:
                with guarded(lambda: self.fs.open_input_file(f.path), f.path, ExtractFailed) as src:
                    meta = pqfmt.open_file(src).metadata
                group: list[int] = []
                size = 0
                for g in range(meta.num_row_groups):
                    group.append(g)
                    size += meta.row_group(g).total_byte_size
                    if size >= target:
                        out.append(Piece(f, row_groups=tuple(group)))
                        group, size = [], 0
                if group or not meta.num_row_groups:
                    out.append(Piece(f, row_groups=tuple(group)))
        return out

    # -- worker side ----------------------------------------------------------------------------

    def extract(self, part: Partition, dirty: DirtyRows | None = None) -> Iterator[pa.RecordBatch]:
        cfg = self.cfg
        if cfg.format == BINARY:
            raise InvalidInput("fromJobConfig.inputFormat BINARY_FILE copies files as they are: the destination "
                               "must be a file connector with toJobConfig.outputFormat BINARY_FILE.", code="Cdm.0014")
        assert isinstance(part, FileSplit)
        schema = pa.ipc.read_schema(pa.py_buffer(part.layout))
        keep = [c - 1 for c in cfg.columns] or None
        for piece in part.pieces:
            bad = _bad_lines(dirty, piece.file.rel)
            if cfg.format == PARQUET:
                with guarded(lambda: self.fs.open_input_file(piece.file.path), piece.file.path, ExtractFailed) as f:
                    for batch in pqfmt.read(f, piece.row_groups, schema.names):
                        yield _as(batch, schema, piece.file.rel)
                continue
            for stream in self._streams(piece):
                if cfg.format == CSV:
                    for batch in csvfmt.read(stream, cfg.text, part.names, keep=keep, bad_line=bad,
                                             skip_header=cfg.text.header and piece.start == 0):
                        yield _as(batch, schema, piece.file.rel)
                else:
                    yield from jsonfmt.batches(jsonfmt.records(stream, cfg.text.encoding, cfg.json_node, bad), schema)

    def native_stream(self, part: Partition) -> Iterator[Chunk]:
        assert isinstance(part, FileSplit)
        if self.cfg.format == CSV:
            yield from self._csv_text(part)
            return
        for piece in part.pieces:
            digest = hashlib.md5(usedforsecurity=False) if self.cfg.md5_suffix else None
            first = True
            for data in self._bytes(piece.file):
                if digest is not None:
                    digest.update(data)
                yield Chunk(data, 0, name=piece.file.rel if first else None)
                first = False
            if first:  # an empty file still starts an object
                yield Chunk(b"", 0, name=piece.file.rel)
            if digest is not None:
                self._check_md5(piece.file, digest.hexdigest())

    def _bytes(self, file: Listed) -> Iterator[bytes]:
        """The file's bytes in ``CHUNK_BYTES`` pieces; on stores that take parallel requests, up to
        ``READ_AHEAD`` ranges are fetched at once (one stream is latency-bound on object stores)."""
        if not self.store.concurrent or file.size <= CHUNK_BYTES:
            with guarded(lambda: self.fs.open_input_stream(file.path, compression=None), file.path,
                         ExtractFailed) as src:
                while data := guarded(lambda: src.read(CHUNK_BYTES), file.path, ExtractFailed):
                    yield data
            return
        with guarded(lambda: self.fs.open_input_file(file.path), file.path, ExtractFailed) as src, \
                ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="read-ahead") as pool:
            pending: deque = deque()
            offsets = iter(range(0, file.size, CHUNK_BYTES))
            for offset in offsets:
                pending.append(pool.submit(src.read_at, min(CHUNK_BYTES, file.size - offset), offset))
                if len(pending) >= READ_AHEAD:
                    break
            while pending:
                data = guarded(pending.popleft().result, file.path, ExtractFailed)
                offset = next(offsets, None)
                if offset is not None:
                    pending.append(pool.submit(src.read_at, min(CHUNK_BYTES, file.size - offset), offset))
                yield data

    def _csv_text(self, part: FileSplit) -> Iterator[Chunk]:
        """The pieces' CSV text as it is, minus header lines, each file ending its last line."""
        for piece in part.pieces:
            for stream in self._streams(piece):
                skip = self.cfg.text.header and piece.start == 0
                last = b"\n"
                while data := guarded(lambda: stream.read(CHUNK_BYTES), piece.file.path, ExtractFailed):
                    if skip:
                        cut = data.find(b"\n")
                        if cut < 0:
                            continue
                        data, skip = data[cut + 1:], False
                    if data:
                        last = data[-1:]
                        yield Chunk(data, data.count(b"\n"))
                if last not in (b"\n", b"\r"):
                    yield Chunk(b"\n", 1)

    def _check_md5(self, file: Listed, actual: str) -> None:
        side = file.path + self.cfg.md5_suffix
        try:
            with self.fs.open_input_stream(side, compression=None) as f:
                expected = f.read(4096).decode("ascii", "replace").split()[0].lower()
        except (FileNotFoundError, IndexError):
            return  # no side file: nothing to compare with
        except OSError as exc:
            raise ExtractFailed(f"Reading MD5 file [{side}]: {exc}") from None
        if expected != actual:
            raise ExtractFailed(f"MD5 of [{file.rel}] is {actual}, its {self.cfg.md5_suffix} file says {expected}.")

    def _streams(self, piece: Piece) -> Iterator[BinaryIO]:
        """The piece's bytes, decompressed (a ZIP archive gives one stream per member)."""
        path, comp = piece.file.path, self.cfg.compression
        if comp == "ZIP":
            with guarded(lambda: self.fs.open_input_file(path), path, ExtractFailed) as f:
                try:
                    archive = zipfile.ZipFile(f)
                except zipfile.BadZipFile as exc:
                    raise ExtractFailed(f"[{piece.file.rel}] is not a ZIP archive: {exc}") from None
                with archive:
                    for member in archive.infolist():
                        if not member.is_dir():
                            with archive.open(member) as m:
                                yield m
            return
        if piece.end is not None:
            with guarded(lambda: self.fs.open_input_file(path), path, ExtractFailed) as f:
                yield io.BufferedReader(_Range(f, piece.start, piece.end, piece.file.size), CHUNK_BYTES)
            return
        with guarded(lambda: self.fs.open_input_stream(path, compression=None), path, ExtractFailed) as raw:
            yield pa.CompressedInputStream(raw, "gzip") if comp == "GZIP" else raw


class _Range(io.RawIOBase):
    """The lines of a file that start inside ``[start, end)``: both ends moved past the next line end."""

    def __init__(self, f: Any, start: int, end: int, size: int) -> None:
        self.f = f
        self.pos = 0 if start == 0 else self._next_line(start - 1, size)
        self.stop = size if end >= size else self._next_line(end - 1, size)

    def _next_line(self, at: int, size: int) -> int:
        while at < size:
            block = self.f.read_at(min(65536, size - at), at)
            i = block.find(b"\n")
            if i >= 0:
                return at + i + 1
            at += len(block)
        return size

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        n = min(len(buf), self.stop - self.pos)
        if n <= 0:
            return 0
        data = self.f.read_at(n, self.pos)
        buf[:len(data)] = data
        self.pos += len(data)
        return len(data)


def _starts_file(p: Piece) -> bool:
    return p.start == 0 and (not p.row_groups or 0 in p.row_groups)


def _piece_size(p: Piece) -> int:
    return (p.end if p.end is not None else p.file.size) - p.start


def _header_names(row: list[str]) -> list[str]:
    out: list[str] = []
    for i, name in enumerate(row, start=1):
        name = name.strip() or f"col_{i}"
        out.append(name if name not in out else f"{name}_{i}")
    return out


def _as(batch: pa.RecordBatch, schema: pa.Schema, rel: str) -> pa.RecordBatch:
    if batch.schema.names != schema.names:
        missing = [n for n in schema.names if n not in batch.schema.names]
        if missing:
            raise ExtractFailed(f"[{rel}] lacks the column(s) {', '.join(missing)} of the first file.")
        batch = batch.select(schema.names)
    try:
        return conform(batch, schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ExtractFailed(f"[{rel}] has columns of other types than the first file: {str(exc)[:200]}") from None


def _bad_lines(dirty: DirtyRows | None, rel: str):
    if dirty is None:
        return None

    def record(number: int | None, text: str, why: str) -> None:
        where = f"{rel} line {number}" if number else rel
        dirty.record(pa.record_batch({"line": pa.array([text], pa.string())}), [f"{where}: {why}"])

    return record


