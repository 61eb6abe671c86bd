"""MySQL / MariaDB drivers, imported on first use, and their errors translated into the opencdm tree
(the password scrubbed from every message)."""

from __future__ import annotations

import re
from typing import Any

from opencdm.errors import CDM_CODES, CdmError, LinkRejected, LinkUnreachable, MissingDriver


def pymysql_module() -> Any:
    try:
        import pymysql
    except ImportError as exc:
        raise MissingDriver("The MySQL driver is missing: pip install pymysql") from exc
    return pymysql


def connectorx_module() -> Any:
    try:
        import connectorx
    except ImportError as exc:
        raise MissingDriver("The MySQL reader is missing: pip install connectorx") from exc
    return connectorx


CX_ERROR = re.compile(r"ERROR (\d+) \(([0-9A-Z]{5})\): (.*?)\s*\}?\s*$", re.S)


def scrub(text: str, secret: str | None) -> str:
    line = " ".join(str(text).split())[:500].rstrip(".")
    return line.replace(secret, "***") if secret else line


def translate(code: int, message: str, failure: type[CdmError], table: str | None, secret: str | None) -> CdmError:
    cause = scrub(message, secret)
    if code == 1146:
        m = re.search(r"Table '([^']+)' doesn't exist", cause)
        return LinkRejected(CDM_CODES["Cdm.0900"] % (m.group(1) if m else table), code="Cdm.0900")
    if code in (1044, 1045, 1698, 1251, 2059):
        return LinkRejected(f"{CDM_CODES['Cdm.0950']} Cause: {cause}.", code="Cdm.0950")
    if code == 1049:
        return LinkRejected(CDM_CODES["Cdm.0901"] % cause, code="Cdm.0901")
    if code in (2002, 2003, 2005, 2006, 2013, 2026, 1040, 1053, 1129, 1927):
        return LinkUnreachable(CDM_CODES["Cdm.0901"] % cause, code="Cdm.0901")
    return failure(CDM_CODES["Cdm.0902"] % cause, code="Cdm.0902")


def driver_error(exc: Exception, failure: type[CdmError], table: str | None, secret: str | None) -> CdmError:
    args = getattr(exc, "args", ())
    code = args[0] if args and isinstance(args[0], int) else 0
    message = args[1] if len(args) > 1 else str(exc)
    return translate(code, str(message), failure, table, secret)


def reader_error(exc: BaseException, failure: type[CdmError], table: str | None, secret: str | None) -> CdmError:
    """connectorx raises RuntimeError (and, on values it cannot decode, a Rust panic) with text only."""
    m = CX_ERROR.search(str(exc))
    if m:
        return translate(int(m.group(1)), m.group(3), failure, table, secret)
    return failure(CDM_CODES["Cdm.0233"] % scrub(str(exc), secret), code="Cdm.0233")
