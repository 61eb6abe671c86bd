"""Reading flat CDM inputs (``{"linkConfig.port": "5432", ...}``) into Python values.

CDM clients send every input value as a string (``"true"``, ``"3306"``), but JSON scalars
(``true``, ``3306``) turn up too; these helpers accept both and raise ``InvalidInput`` naming
the input when a value is missing or malformed. An empty string counts as "not given".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from opencdm.connectors.base import Inputs
from opencdm.errors import CDM_CODES, InvalidInput

_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})


def _raw(inputs: Inputs, name: str) -> Any:
    value = inputs.get(name)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    return value


def given(inputs: Inputs, name: str) -> bool:
    """True when ``name`` has a non-empty value."""
    return _raw(inputs, name) is not None


def require(inputs: Inputs, *names: str) -> None:
    """Raise ``InvalidInput`` (Cdm.0238) naming the first of ``names`` that has no value."""
    for name in names:
        if _raw(inputs, name) is None:
            raise InvalidInput(CDM_CODES["Cdm.0238"] % name, code="Cdm.0238")


def get_str(inputs: Inputs, name: str, default: str | None = None) -> str | None:
    """The value (surrounding blanks removed), or ``default`` when not given. A name, a table or a
    condition is text: a number, a boolean or an object is refused, never turned into one."""
    value = _raw(inputs, name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise invalid(name, value, "a string")
    return value.strip()


def get_secret(inputs: Inputs, name: str) -> str | None:
    """A sensitive value exactly as given (passwords may start or end with blanks)."""
    value = inputs.get(name)
    return None if value is None or value == "" else str(value)


def get_int(inputs: Inputs, name: str, default: int | None = None) -> int | None:
    value = _raw(inputs, name)
    if value is None:
        return default
    if isinstance(value, bool):
        raise invalid(name, value, "an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise invalid(name, value, "an integer") from None


def get_bool(inputs: Inputs, name: str, default: bool = False) -> bool:
    value = _raw(inputs, name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise invalid(name, value, "true or false")


def get_enum(inputs: Inputs, name: str, allowed: Iterable[str], default: str | None = None) -> str | None:
    """The value matched case-insensitively against ``allowed``, returned in its canonical spelling."""
    allowed = tuple(allowed)
    value = get_str(inputs, name)
    if value is None:
        return default
    for choice in allowed:
        if choice.lower() == value.lower():
            return choice
    raise invalid(name, value, "one of " + ", ".join(allowed))


def get_list(inputs: Inputs, name: str, sep: str = "&") -> list[str]:
    """A ``sep``-joined list such as ``id&name`` (blank items dropped); empty when not given."""
    value = get_str(inputs, name)
    if value is None:
        return []
    return [item.strip() for item in value.split(sep) if item.strip()]


def get_hosts(inputs: Inputs, name: str, sep: str) -> list[tuple[str, int]]:
    """``host:port`` items joined by ``sep`` (``[v6]:port`` too) as ``(host, port)`` pairs."""
    hosts = []
    for item in get_list(inputs, name, sep):
        host, colon, port = item.rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in host:
            raise invalid(name, item, f"host:port{sep}host:port")
        hosts.append((host.strip("[]"), int(port)))
    return hosts


def invalid(name: str, value: Any, expected: str) -> InvalidInput:
    return InvalidInput(f"Invalid value {str(value)[:100]!r} for {name}: expected {expected}.", code="Cdm.0014")


def get_map(inputs: Inputs, name: str) -> dict[str, str]:
    """A map input (e.g. ``linkConfig.jdbcProperties``): a JSON object, or its text; values as strings."""
    raw = inputs.get(name)
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise invalid(name, raw, "a JSON object") from None
    if not isinstance(raw, dict):
        raise invalid(name, raw, "a JSON object")
    return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in raw.items()}


def require_server(link: Inputs) -> None:
    """A database server link: host, port (a TCP port), username and password are required."""
    require(link, "linkConfig.host", "linkConfig.port", "linkConfig.username", "linkConfig.password")
    port = get_int(link, "linkConfig.port")
    if not 0 < port < 65536:
        raise invalid("linkConfig.port", port, "a TCP port")
