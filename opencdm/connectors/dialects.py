"""The ``linkConfig.databaseType`` -> ``Dialect`` registry of ``generic-jdbc-connector``, and shared helpers."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, MutableMapping

from opencdm.connectors import config
from opencdm.connectors.base import ConnectorContext, Inputs
from opencdm.connectors.sql import Dialect
from opencdm.errors import CDM_CODES, InvalidInput, LinkRejected


class _Dialects(MutableMapping):
    """``databaseType`` -> ``Dialect`` class, like a dict, except that a built-in's module is imported
    on first lookup: a worker that only moves PostgreSQL never loads the MySQL or SQLite code (nor
    the ~10 MiB of pyarrow.compute behind them)."""

    def __init__(self, paths: dict[str, str]) -> None:
        self._entries: dict[str, str | type[Dialect]] = dict(paths)

    def __getitem__(self, kind: str) -> type[Dialect]:
        entry = self._entries[kind]
        if isinstance(entry, str):
            module, _, name = entry.partition(":")
            entry = self._entries[kind] = getattr(importlib.import_module(module), name)
        return entry

    def __setitem__(self, kind: str, cls: type[Dialect]) -> None:
        self._entries[kind] = cls

    def __delitem__(self, kind: str) -> None:
        del self._entries[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


#: ``linkConfig.databaseType`` values we can serve (``module:class``, imported on first use).
DIALECTS: MutableMapping[str, type[Dialect]] = _Dialects({
    "POSTGRESQL": "opencdm.connectors.postgresql:PostgresDialect", "DWS": "opencdm.connectors.dws:DwsDialect",
    "SQLITE": "opencdm.connectors.sqlite:SqliteDialect", "MYSQL": "opencdm.connectors.mysql:MysqlDialect"})
PREPARATIONS = ("DO_NOTHING", "CREATE_WHEN_NOT_EXIST", "DROP_AND_CREATE")
BEFORE_IMPORT = ("none", "shouldClearTable", "whereClause")
log = logging.getLogger("opencdm.connectors.jdbc")


def dialect_for(link: Inputs, ctx: ConnectorContext) -> Dialect:
    """The dialect named by ``linkConfig.databaseType``; InvalidInput naming the supported ones."""
    config.require(link, "linkConfig.databaseType")
    kind = config.get_str(link, "linkConfig.databaseType").upper()
    if kind not in DIALECTS:
        raise InvalidInput(
            f"Unsupported linkConfig.databaseType [{kind}]. Supported: {', '.join(DIALECTS)}.", code="Cdm.0014"
        )
    return DIALECTS[kind](link, ctx)


def _label(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def _missing_table(label: str) -> LinkRejected:
    return LinkRejected(CDM_CODES["Cdm.0900"] % label, code="Cdm.0900")
