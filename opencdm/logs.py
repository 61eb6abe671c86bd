"""The server's logging: plain text lines (default) or one JSON object per line (``OPENCDM_LOG_FORMAT=json``).

Every line carries what it is about when known: the API request id and project (set by the request
middleware), the job and submission (set around each run on its runner thread). They come from
context variables, so a log call names nothing itself. Secrets are never passed to a logger: links
are logged by name, requests by method and path (never a query string or header).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

FIELDS = ("request_id", "project_id", "job", "submission_id")
_context: dict[str, contextvars.ContextVar] = {f: contextvars.ContextVar(f, default=None) for f in FIELDS}
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def bind(**values) -> list[tuple[contextvars.ContextVar, contextvars.Token]]:
    """Set context fields for what runs next in this context; returns tokens for ``unbind``."""
    return [(_context[k], _context[k].set(v)) for k, v in values.items() if k in _context]


def unbind(tokens) -> None:
    for var, token in reversed(tokens):
        var.reset(token)


@contextlib.contextmanager
def bound(**values):
    tokens = bind(**values)
    try:
        yield
    finally:
        unbind(tokens)


class _Context(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for field, var in _context.items():
            if getattr(record, field, None) is None:
                setattr(record, field, var.get())
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                doc[field] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def check_level(level: str) -> str:
    name = str(level).strip().upper()
    if name not in LEVELS:
        raise ValueError(f"log level {level!r}: use one of {', '.join(LEVELS).lower()}")
    return name


def configure(level: str = "INFO", fmt: str = "text", stream=None) -> None:
    """Root handler on ``stream`` (stderr) at ``level``; uvicorn's loggers go through it too."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(_Context())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(check_level(level))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for noisy in ("distributed", "asyncio", "httpx", "httpcore"):  # their DEBUG drowns ours
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))
