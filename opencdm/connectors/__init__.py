"""The connector registry: built-ins and entry-point plugins load the same way."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from opencdm.connectors.base import Connector
from opencdm.errors import InvalidInput

BUILTIN = ("opencdm.connectors.jdbc", "opencdm.connectors.files", "opencdm.connectors.search",
           "opencdm.connectors.kafka", "opencdm.connectors.dis")

_registry: dict[str, Connector] = {}
_loaded = False


def register(cls: type[Connector]) -> type[Connector]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    _registry[cls.name] = cls()
    return cls


def load() -> None:
    """Import the built-in connectors, then those declared in the ``opencdm.connectors`` entry points."""
    global _loaded
    if _loaded:
        return
    for module in BUILTIN:
        importlib.import_module(module)
    for ep in entry_points(group="opencdm.connectors"):
        ep.load()
    _loaded = True


def names() -> list[str]:
    load()
    return sorted(_registry)


def get(name: str) -> Connector:
    """The connector called ``name``; an unknown name lists the known ones (Cdm.0102)."""
    load()
    try:
        return _registry[name]
    except KeyError:
        raise InvalidInput(
            f"Connector [{name}] does not exist. Known connectors: {', '.join(sorted(_registry))}.",
            code="Cdm.0102",
        ) from None
