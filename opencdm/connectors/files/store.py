"""What a file connector's link gives the shared machinery: a ``pyarrow.fs`` file system and the
paths of directories in it, plus listing with CDM's filters.

Every store is a ``pyarrow.fs.FileSystem``: S3 natively (``S3FileSystem``), SFTP and FTP through
fsspec wrapped in ``PyFileSystem(FSSpecHandler)``, local files as ``LocalFileSystem``. The
readers, writers, listing, staging and publishing below them are written once.
"""

from __future__ import annotations

import fnmatch
import posixpath
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from opencdm.connectors.base import ConnectorContext
from opencdm.errors import ExtractFailed, InvalidInput, LinkError, LinkUnreachable

#: Hidden folder, under the output directory, where a run's files wait until commit publishes them.
TEMP_PREFIX = ".opencdm-tmp-"


class FileLink(ABC):
    """A parsed link of a file connector."""

    #: Whether job paths start with a bucket (``bucketName``): an object store, where a move overwrites.
    buckets: bool = False
    #: Whether one file system object takes requests from several threads at once (not one SFTP/FTP session).
    concurrent: bool = True

    @abstractmethod
    def filesystem(self, ctx: ConnectorContext) -> pafs.FileSystem:
        """A file system for this link; egress and confinement checked, nothing opened yet."""

    def location(self, bucket: str | None, directory: str, ctx: ConnectorContext, name: str) -> str:
        """The file system path of ``directory`` (in ``bucket``); InvalidInput when not allowed."""
        return directory.rstrip("/") or "/"

    def check(self, ctx: ConnectorContext) -> None:
        """Connect and authenticate: look at the root."""
        fs = self.filesystem(ctx)
        guarded(lambda: fs.get_file_info(self.location(None, "/", ctx, "root") if not self.buckets else ""),
                "link check")

    def confined(self, path: str, ctx: ConnectorContext) -> bool:
        """Whether a file may be read or written here (local files: InvalidInput when the path, symlinks
        followed, leads out of the project's roots)."""
        return True


def guarded(call, what: str, failure: type = LinkUnreachable) -> Any:
    """Run a file-system call, turning its errors into CDM errors (never a traceback, never a secret)."""
    try:
        return call()
    except (InvalidInput, LinkError, ExtractFailed):
        raise
    except PermissionError as exc:
        raise LinkError(f"Permission denied ({what}): {_short(exc)}", code="Cdm.0950") from None
    except FileNotFoundError as exc:
        raise failure(f"Not found ({what}): {_short(exc)}") from None
    except Exception as exc:  # OSError, and the clients' own (paramiko's SSHException, ftplib's error_perm)
        text = _short(exc) or type(exc).__name__
        if any(w in text for w in ("ACCESS_DENIED", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                                   "Authentication failed", "530 ", "Login incorrect")):
            raise LinkError(f"The store refused the credentials ({what}): {text}", code="Cdm.0950") from None
        if not isinstance(exc, OSError) and type(exc).__module__.split(".")[0] not in ("paramiko", "ftplib",
                                                                                       "fsspec", "pyarrow"):
            raise
        raise failure(f"File store error ({what}): {text}") from None


def _short(exc: BaseException) -> str:
    return str(exc).replace("\n", " ")[:400]


@dataclass(frozen=True)
class Listed:
    """One file of a source listing: plain data (crosses to workers inside partitions)."""

    path: str  # file system path
    rel: str  # path below the input directory it was found in (the name a copy keeps)
    size: int
    mtime: float


def relative(path: str, base: str) -> str:
    rel = posixpath.relpath(path, base) if base not in ("", "/") else path.lstrip("/")
    return rel


def list_files(fs: pafs.FileSystem, link: FileLink, ctx: ConnectorContext, base: str, cfg: Any) -> list[Listed]:
    """Files under ``base`` (or ``base`` itself when a file) that pass the job's filters, sorted."""
    info = guarded(lambda: fs.get_file_info(base), f"reading {base}", ExtractFailed)
    if info.type == pafs.FileType.NotFound:
        raise ExtractFailed(f"Input path [{base}] does not exist.")
    if info.type == pafs.FileType.File:
        entries, root = [info], posixpath.dirname(base)
    else:
        selector = pafs.FileSelector(base, recursive=True)
        entries = guarded(lambda: fs.get_file_info(selector), f"listing {base}", ExtractFailed)
        root = base
    out = []
    for e in entries:
        if e.type != pafs.FileType.File:
            continue
        rel = relative(e.path, root)
        if not _wanted(rel, cfg) or not link.confined(e.path, ctx):
            continue
        mtime = e.mtime.timestamp() if e.mtime is not None else 0.0
        if cfg.start_time is not None and mtime < cfg.start_time:
            continue
        if cfg.end_time is not None and mtime >= cfg.end_time:
            continue
        out.append(Listed(e.path, rel, e.size or 0, mtime))
    return sorted(out, key=lambda f: f.rel)


def _wanted(rel: str, cfg: Any) -> bool:
    parts = rel.split("/")
    name, folders = parts[-1], "/".join(parts[:-1])
    if any(p.startswith(TEMP_PREFIX) for p in parts):
        return False  # another run's unpublished files
    if cfg.marker_file and name == cfg.marker_file:
        return False
    if cfg.md5_suffix and name.endswith(cfg.md5_suffix):
        return False
    if cfg.path_filter and not fnmatch.fnmatchcase(folders, cfg.path_filter):
        return False
    if cfg.file_filters and not any(fnmatch.fnmatchcase(name, p) for p in cfg.file_filters):
        return False
    return True


def wait_for_marker(fs: pafs.FileSystem, base: str, marker: str, wait: float) -> None:
    """Return once ``base/marker`` exists; ExtractFailed after ``wait`` seconds."""
    path = posixpath.join(base, marker)
    deadline = time.monotonic() + wait
    while True:
        if guarded(lambda: fs.get_file_info(path), "marker file", ExtractFailed).type == pafs.FileType.File:
            return
        if time.monotonic() >= deadline:
            raise ExtractFailed(f"Marker file [{path}] did not appear within fromJobConfig.waitTime={wait:g} s.")
        time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))


def safe_rel(rel: str) -> str:
    """A relative name from a source, safe to join under an output directory."""
    parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise ExtractFailed(f"Source file name [{rel}] cannot be written below the output directory.")
    return "/".join(parts)
