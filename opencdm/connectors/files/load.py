"""TO side of every file connector: each partition writes its own files; a binary copy keeps each
source file's name and folders.

With ``writeToTempFile`` (opencdm's default) files are written into a hidden folder of the output
directory named from the run id (``.opencdm-tmp-<run>``) and ``commit`` moves them to their names
only when the whole run succeeded, so no reader sees a half file and a failed, stopped or killed
run leaves no new visible file (``abort``, also called by restart recovery, deletes the folder).
Without it, files are written under their final names at once (object stores still show a file
only once its upload completes).

``duplicateFileOpType`` applies to a file whose name exists with the same size (CDM's rule):
``REPLACE`` overwrites it, ``SKIP`` keeps it (counted in FILES_SKIPPED), ``ABANDON`` fails the run
before anything is published. A same-name file of another size is replaced.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from opencdm.connectors.arrow import renamed
from opencdm.connectors.base import Chunk, ConnectorContext, DirtyRows, Inputs, Loader, LoadResult, Partition
from opencdm.connectors.files.extract import NATIVE_FORMAT
from opencdm.connectors.files.options import BINARY, CSV, JSON, PARQUET, FileTo
from opencdm.connectors.files.store import TEMP_PREFIX, FileLink, guarded, safe_rel
from opencdm.connectors.formats import EXTENSIONS
from opencdm.connectors.formats import csv as csvfmt
from opencdm.connectors.formats import json as jsonfmt
from opencdm.connectors.formats import parquet as pqfmt
from opencdm.errors import InvalidInput, LoadFailed

#: A binary copy waits for its pending uploads every this many bytes (object stores upload parts in the
#: background, with no limit of their own on what waits when the network is slower than the source).
FLUSH_BYTES = 16 << 20
PUBLISH_THREADS = 8  # moves at once on stores that take parallel requests (object stores, local disks)
_CODEC_EXT = {"GZIP": (".gz", "gzip"), "BZIP2": (".bz2", "bz2"), "ZSTD": (".zst", "zstd"), "LZ4": (".lz4", "lz4")}


class FileLoader(Loader):
    def __init__(self, store: FileLink, link: Inputs, job: Inputs, ctx: ConnectorContext, run_id: str) -> None:
        super().__init__(link, job, ctx, run_id)
        self.store = store
        self.cfg = FileTo.parse(job, store)
        self.base = store.location(self.cfg.bucket, self.cfg.directory, ctx, "toJobConfig.outputDirectory")
        self.temp = posixpath.join(self.base, TEMP_PREFIX + run_id)
        self._schema: pa.Schema | None = None

    @cached_property
    def fs(self) -> Any:
        return self.store.filesystem(self.ctx)

    def _where(self, name: str) -> str:
        return posixpath.join(self.temp if self.cfg.temp else self.base, name)

    def _names(self, schema: pa.Schema) -> pa.Schema:
        return renamed(schema, self.cfg.columns, "toJobConfig.columnList")

    # -- server side ----------------------------------------------------------------------------

    def prepare(self, schema: pa.Schema) -> None:
        self._schema = self._names(schema) if self.cfg.format != BINARY else schema
        if self.store.buckets:
            bucket = guarded(lambda: self.fs.get_file_info(self.cfg.bucket), "bucket", LoadFailed)
            if bucket.type != pafs.FileType.Directory:
                raise LoadFailed(f"Bucket [{self.cfg.bucket}] does not exist.")
        info = guarded(lambda: self.fs.get_file_info(self.base), self.base, LoadFailed)
        if info.type == pafs.FileType.File:
            raise LoadFailed(f"toJobConfig.outputDirectory [{self.cfg.directory}] is a file.")
        self._mkdirs(self.temp if self.cfg.temp else self.base)

    def accepts_native(self, fmt: str) -> bool:
        return fmt == NATIVE_FORMAT and self.cfg.format == BINARY

    def commit(self, results: Sequence[LoadResult]) -> None:
        if not self.cfg.temp:
            self._finish(results)
            return
        staged = self._staged()
        says_columns = self.cfg.format == PARQUET or (self.cfg.format == CSV and self.cfg.text.header)
        if not staged and says_columns and self._schema is not None:
            name = self._file_name(0, 0)  # no rows at all: one empty file still says what the columns are
            with self._open(self._where(name)) as out:
                self._writer(out, self._schema).close()
            staged = self._staged()
        self._publish(staged)
        self.abort()
        self._finish(results)

    def _publish(self, staged: list[tuple[str, int]]) -> None:
        """Move every staged file to its name; duplicates first, so ABANDON publishes nothing."""
        object_store = self.store.buckets  # a move overwrites, parents need no creating
        pool = ThreadPoolExecutor(PUBLISH_THREADS if self.store.concurrent else 1, thread_name_prefix="publish")
        with pool:
            def sizes() -> list[int | None]:
                return list(pool.map(lambda item: self._size(posixpath.join(self.base, item[0])), staged))

            found = [None] * len(staged) if object_store and self.cfg.duplicate == "REPLACE" else sizes()
            moves = []
            for (rel, size), there in zip(staged, found):
                if there == size and self.cfg.duplicate != "REPLACE":
                    if self.cfg.duplicate == "ABANDON":
                        raise LoadFailed(f"[{rel}] exists with the same size "
                                         "(toJobConfig.duplicateFileOpType=ABANDON).")
                    continue  # SKIP
                moves.append((rel, there is not None))
            if not object_store:
                for parent in sorted({posixpath.dirname(posixpath.join(self.base, rel)) for rel, _ in moves}):
                    self._mkdirs(parent)

            def move(item: tuple[str, bool]) -> None:
                rel, exists = item
                src, dest = posixpath.join(self.temp, rel), posixpath.join(self.base, rel)
                self.store.confined(dest, self.ctx)  # a symlinked folder in the output must not lead out
                if exists and not object_store and not isinstance(self.fs, pafs.LocalFileSystem):
                    guarded(lambda: self.fs.delete_file(dest), dest, LoadFailed)  # SFTP/FTP renames refuse
                guarded(lambda: self.fs.move(src, dest), f"publishing {dest}", LoadFailed)

            list(pool.map(move, moves))

    def _size(self, path: str) -> int | None:
        info = guarded(lambda: self.fs.get_file_info(path), path, LoadFailed)
        return info.size if info.type == pafs.FileType.File else None

    def _finish(self, results: Sequence[LoadResult]) -> None:
        if self.cfg.marker_file:
            self.store.confined(posixpath.join(self.base, self.cfg.marker_file), self.ctx)
            with self._open(posixpath.join(self.base, self.cfg.marker_file)):
                pass

    def abort(self) -> None:
        if not self.cfg.temp:
            return
        try:
            self.fs.delete_dir(self.temp)
        except FileNotFoundError:
            pass
        except OSError as exc:
            if self._exists(self.temp) or "not found" not in str(exc).lower():
                raise LoadFailed(f"Could not remove the run's temporary files [{self.temp}]: {exc}") from None

    def _staged(self) -> list[tuple[str, int]]:
        info = guarded(lambda: self.fs.get_file_info(self.temp), self.temp, LoadFailed)
        if info.type != pafs.FileType.Directory:
            return []
        found = guarded(lambda: self.fs.get_file_info(pafs.FileSelector(self.temp, recursive=True)), self.temp,
                        LoadFailed)
        return sorted((posixpath.relpath(f.path, self.temp), f.size or 0) for f in found
                      if f.type == pafs.FileType.File)

    def _mkdirs(self, path: str) -> None:
        """``path`` and its parents as directories (FTP's mkdir fails on one that exists); object stores
        have no directories to create (a key's prefix is its folder)."""
        if self.store.buckets:
            return
        if guarded(lambda: self.fs.get_file_info(path), path, LoadFailed).type != pafs.FileType.Directory:
            guarded(lambda: self.fs.create_dir(path, recursive=True), f"creating {path}", LoadFailed)

    def _exists(self, path: str) -> bool:
        return guarded(lambda: self.fs.get_file_info(path), path, LoadFailed).type != pafs.FileType.NotFound

    def _duplicate(self, dest: str, size: int | None) -> bool:
        info = guarded(lambda: self.fs.get_file_info(dest), dest, LoadFailed)
        return info.type == pafs.FileType.File and (size is None or info.size == size)

    # -- worker side ----------------------------------------------------------------------------

    def _file_name(self, index: int, seq: int) -> str:
        ext = EXTENSIONS[self.cfg.format] + (_CODEC_EXT[self.cfg.compression][0]
                                             if self.cfg.format != PARQUET and self.cfg.compression != "NONE" else "")
        roll = f"-{seq:03d}" if self.cfg.write_file_size else ""
        return f"{self.cfg.file_prefix or 'part-'}{index:05d}{roll}{ext}"

    def _open(self, path: str) -> Any:
        codec = _CODEC_EXT.get(self.cfg.compression, (None, None))[1] if self.cfg.format != PARQUET else None
        return guarded(lambda: self.fs.open_output_stream(path, compression=codec), path, LoadFailed)

    def _writer(self, out: Any, schema: pa.Schema) -> Any:
        fmt, text = self.cfg.format, self.cfg.text
        if fmt == CSV:
            return csvfmt.Writer(out, schema, text)
        if fmt == JSON:
            return jsonfmt.Writer(out, schema, text.encoding)
        size = self.cfg.write_file_size
        return pqfmt.Writer(out, schema, self.cfg.compression, min(pqfmt.ROW_GROUP_BYTES, size // 2) if size else None)

    def load(self, part: Partition, batches: Iterable[pa.RecordBatch], dirty: DirtyRows | None = None) -> LoadResult:
        if self.cfg.format == BINARY:
            raise InvalidInput("toJobConfig.outputFormat BINARY_FILE needs a file source with "
                               "fromJobConfig.inputFormat BINARY_FILE (and no dirty-data recording).",
                               code="Cdm.0014")
        rows = files = seq = 0
        out = writer = None
        limit = self.cfg.write_file_size
        try:
            for batch in _sliced(batches, limit):
                if not batch.num_rows:
                    continue
                if self.cfg.columns:
                    batch = batch.rename_columns(list(self.cfg.columns))
                if writer is None:
                    name = self._file_name(part.index, seq)
                    if not self.cfg.temp and self.cfg.duplicate != "REPLACE" and self._duplicate(self._where(name),
                                                                                                None):
                        raise LoadFailed(f"[{name}] exists (toJobConfig.duplicateFileOpType={self.cfg.duplicate} "
                                         "without writeToTempFile: files opencdm names are compared by name).")
                    out = self._open(self._where(name))
                    writer = self._writer(out, batch.schema)
                writer.write(batch)
                rows += batch.num_rows
                if limit and out.tell() >= limit:
                    writer.close()
                    out.close()
                    files, seq, out, writer = files + 1, seq + 1, None, None
            if writer is not None:
                writer.close()
                out.close()
                files += 1
                out = None
        except (OSError, pa.ArrowException) as exc:
            raise LoadFailed(f"Writing files into [{self.cfg.directory}] failed: {str(exc)[:400]}") from None
        finally:
            if out is not None:
                out.close()
        return LoadResult(part.index, rows, files=files)

    def load_native(self, part: Partition, chunks: Iterable[Chunk], fmt: str) -> LoadResult:
        sizes = {p.file.rel: p.file.size for p in getattr(part, "pieces", ())}
        files = skipped = 0
        for name, data in _objects(chunks):
            rel = safe_rel(name)
            dest = posixpath.join(self.base, rel)
            if self.cfg.duplicate != "REPLACE" and self._duplicate(dest, sizes.get(name)):
                if self.cfg.duplicate == "ABANDON":
                    raise LoadFailed(f"[{rel}] exists with the same size (toJobConfig.duplicateFileOpType=ABANDON).")
                for _ in data:  # SKIP: leave it, read past its bytes
                    pass
                skipped += 1
                continue
            self._copy(rel, data, sizes.get(name))
            files += 1
        return LoadResult(part.index, 0, files=files, skipped=skipped)

    def _copy(self, rel: str, data: Iterator[bytes], expected: int | None) -> None:
        path = self._where(rel)
        self.store.confined(path, self.ctx)
        self._mkdirs(posixpath.dirname(path))
        digest = hashlib.md5(usedforsecurity=False) if self.cfg.validate_md5 else None
        written = 0
        with guarded(lambda: self.fs.open_output_stream(path, compression=None), path, LoadFailed) as out:
            for block in data:
                out.write(block)
                written += len(block)
                if digest is not None:
                    digest.update(block)
                if written % FLUSH_BYTES < len(block):
                    out.flush()  # an object store's background uploads finish here: memory stays bounded
        size = guarded(lambda: self.fs.get_file_info(path), path, LoadFailed).size
        if size != written or (expected is not None and written != expected):
            raise LoadFailed(f"[{rel}]: {size} bytes arrived of {expected if expected is not None else written}.")
        if digest is not None:
            check = hashlib.md5(usedforsecurity=False)
            with guarded(lambda: self.fs.open_input_stream(path, compression=None), path, LoadFailed) as back:
                while block := back.read(8 << 20):
                    check.update(block)
            if check.hexdigest() != digest.hexdigest():
                raise LoadFailed(f"[{rel}]: MD5 of the written file {check.hexdigest()} differs from the "
                                 f"source's {digest.hexdigest()} (toJobConfig.validateMD5).")


def _sliced(batches: Iterable[pa.RecordBatch], limit: int) -> Iterator[pa.RecordBatch]:
    """Batches cut to about a quarter of ``limit`` bytes, so files roll close to their size (0: as they come)."""
    for batch in batches:
        if not limit or batch.nbytes <= limit // 4 or batch.num_rows < 2:
            yield batch
            continue
        step = max(1, batch.num_rows * (limit // 4) // max(1, batch.nbytes))
        for lo in range(0, batch.num_rows, step):
            yield batch.slice(lo, step)


def _objects(chunks: Iterable[Chunk]) -> Iterator[tuple[str, Iterator[bytes]]]:
    """Split a stream of named chunks into (name, bytes iterator) per object, lazily."""
    it = iter(chunks)
    pending = next(it, None)
    while pending is not None:
        if pending.name is None:
            raise LoadFailed("A binary stream chunk has no file name.")
        head: list[Chunk | None] = [pending]

        def body(first: Chunk = pending) -> Iterator[bytes]:
            if first.data:
                yield first.data
            for chunk in it:
                if chunk.name is not None:
                    head[0] = chunk
                    return
                yield chunk.data
            head[0] = None

        data = body()
        head[0] = None
        yield pending.name, data
        for _ in data:  # the consumer may have stopped early
            pass
        pending = head[0]
