"""Confinement: a path a link names must resolve inside the project's own file root or a shared root.

Relative paths start at the project's root; absolute paths are allowed only inside the roots;
symlinks are followed before the check, so a link inside a root cannot point out of it. The
server's own files (metadata, key, run control) are never inside a root: ``Settings`` refuses
to start otherwise.
"""

from __future__ import annotations

from pathlib import Path

from opencdm.connectors.base import ConnectorContext
from opencdm.errors import InvalidInput
from opencdm.text import has_control


def confine(value: str, ctx: ConnectorContext, name: str, *, base: str | None = None) -> Path:
    """``value`` resolved against ``base`` (default: the project's root); InvalidInput naming the
    input ``name`` unless it lands inside one of ``ctx.allowed_dirs``."""
    if has_control(value):
        raise InvalidInput(f"{name} must not contain control characters.", code="Cdm.0014")
    given = Path(value)
    path = (given if given.is_absolute() else Path(base or ctx.file_root) / given).resolve()
    if not any(path == Path(d).resolve() or path.is_relative_to(Path(d).resolve()) for d in ctx.allowed_dirs):
        raise InvalidInput(f"{name} [{value}] is outside this project's file root and the shared roots the "
                           "operator configured (OPENCDM_SHARED_FILE_ROOTS).", code="Cdm.0014")
    return path
