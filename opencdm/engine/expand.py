"""``${...}`` macros and job variables in a job's inputs (spec §14.1), expanded at each run's start in
the inputs each connector lists (``Connector.macro_inputs``), with the run's reference time: the
planned time of a scheduled run, else the moment it starts. ``{"variables": {...}}`` of a start
fills ``${name}``. Bad macros are refused when the job is created and unknown variables when it is
started (400), never as a failed run later."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from opencdm import macros
from opencdm.connectors.base import Connector, Inputs


def check(connector: Connector, inputs: Inputs, variables: Mapping[str, str] | None) -> None:
    """Every macro well formed; with ``variables`` (a start), every variable given."""
    for name in connector.macro_inputs:
        value = inputs.get(name)
        if isinstance(value, str) and "${" in value:
            macros.check(value, variables, field=name, month_units=name not in connector.time_inputs)


def expand(connector: Connector, inputs: Inputs, now: datetime, variables: Mapping[str, str] | None,
           tz: str) -> dict[str, Any]:
    """``inputs`` with the macros and variables of the connector's macro inputs expanded. Without
    ``variables`` (a job being created) each variable reads ``0``, so the inputs can still be checked."""
    out = dict(inputs)
    zone = ZoneInfo(tz)
    for name in connector.macro_inputs:
        value = out.get(name)
        if isinstance(value, str) and "${" in value:
            given = variables if variables is not None else {v: "0" for v in macros.names(value, field=name)}
            out[name] = macros.expand(value, now.astimezone(zone), given, tz=zone, field=name,
                                      month_units=name not in connector.time_inputs)
    return out
