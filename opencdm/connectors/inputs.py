"""Declarative input definitions: what a connector's links and jobs take, as data a form can be built from.

Sqoop 2's ``MInput`` in a Python shape. Each connector declares ``link_inputs``, ``from_inputs`` and
``to_inputs`` (``Connector`` in ``connectors.base``) next to the config classes that parse them; groups
several connectors share (file formats, stream records) are declared once, in their shared module. The
parse code stays the truth about what a value means: a definition only says which inputs exist, their
type, whether they are required or secret, their choices and default, in one sentence.
``tests/connectors/test_input_definitions.py`` keeps the declared names equal to the names the code reads.

``JOB_INPUTS`` are the job-level (driver) inputs the server itself interprets, declared once here
rather than per connector. ``GET /v1.1/{project_id}/connectors`` serves all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Sqoop's MInput types. List-like CDM inputs (``columnList``: ``a&b``) are STRINGs: that is their wire form.
TYPES = ("STRING", "INTEGER", "LONG", "BOOLEAN", "ENUM", "MAP", "LIST")


@dataclass(frozen=True)
class InputDef:
    """One input: full name (``linkConfig.host``), MInput type, and what a form needs to offer it."""

    name: str
    type: str
    required: bool = False
    sensitive: bool = False
    values: tuple[str, ...] = ()  # the choices of an ENUM
    default: str | None = None  # as a client would send it ("true", "1000")
    description: str = ""  # one sentence, conditional requirements included

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"{self.name}: type {self.type!r} is not one of {', '.join(TYPES)}")
        if (self.type == "ENUM") != bool(self.values):
            raise ValueError(f"{self.name}: an ENUM lists its values, and only an ENUM does")
        if self.type == "ENUM" and self.default is not None and self.default not in self.values:
            raise ValueError(f"{self.name}: default {self.default!r} is not among its values")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "required": self.required, "sensitive": self.sensitive,
                "values": list(self.values), "default": self.default, "description": self.description}


def string(name: str, description: str, *, required: bool = False, default: str | None = None) -> InputDef:
    return InputDef(name, "STRING", required, default=default, description=description)


def secret(name: str, description: str, *, required: bool = False) -> InputDef:
    """A sensitive STRING: encrypted at rest, returned as ``******``."""
    return InputDef(name, "STRING", required, sensitive=True, description=description)


def integer(name: str, description: str, *, required: bool = False, default: int | None = None,
            long: bool = False) -> InputDef:
    return InputDef(name, "LONG" if long else "INTEGER", required,
                    default=None if default is None else str(default), description=description)


def boolean(name: str, description: str, *, default: bool | None = False) -> InputDef:
    """``default=None``: unset means something of its own (said in the description)."""
    return InputDef(name, "BOOLEAN", default=None if default is None else str(default).lower(),
                    description=description)


def enum(name: str, values: tuple[str, ...], description: str, *, required: bool = False,
         default: str | None = None) -> InputDef:
    return InputDef(name, "ENUM", required, values=tuple(values), default=default, description=description)


def mapping(name: str, description: str) -> InputDef:
    """A JSON object (or its text) of string values."""
    return InputDef(name, "MAP", description=description)


_T = "throttlingConfig."
_S = "schedulerConfig."

#: Job-level inputs (``driver-config-values``) the server interprets, whatever the connectors.
JOB_INPUTS: tuple[InputDef, ...] = (
    integer(_T + "numExtractors", "Partitions of one run that execute at once, 1 to 64.", default=1),
    integer(_T + "numLoaders", "CDM: loaders of HBase and Hive destinations, which opencdm does not have; "
                               "checked (1 to 64) and without effect: every partition writes through one loader.",
            default=1),
    integer(_T + "concurrentSubJobs", "Tables of an entire-database job (BATCH_JOB) moved at once, 1 to 32.",
            default=1),
    integer(_T + "recordRate", "Rows per second for the whole job (opencdm extension); unset or 0: unlimited.",
            long=True),
    integer(_T + "byteRate", "Bytes per second for the whole job (opencdm extension); unset or 0: unlimited.",
            long=True),
    boolean(_T + "recordDirtyData", "Keep rows that cannot be read or written as dirty data instead of failing."),
    string(_T + "writeToLink", "A link that receives the dirty data (a database table or a file link); "
                               "default: JSON-lines files under the project's root."),
    string(_T + "obsBucket", "The bucket of an OBS writeToLink; required with one."),
    string(_T + "dirtyDataDirectory", "The dirty-data table (with writeToLink to a database) or directory."),
    integer(_T + "maxErrorRecords", "Dirty rows allowed per partition before the run fails; unset: no limit.",
            long=True),
    boolean(_T + "resumable", "Keep a checkpoint and the staging of a failed run so a start can resume it "
                              "(opencdm extension)."),
    enum("retryJobConfig.retryJobType", ("NONE", "RETRY_TRIPLE"),
         "RETRY_TRIPLE: a run that failed for a retryable reason starts again, up to three times.", default="NONE"),
    boolean(_S + "isSchedulerJob", "Run the job on the schedule the other schedulerConfig inputs give."),
    enum(_S + "cycleType", ("minute", "hour", "day", "week", "month"),
         "The schedule's unit; required when isSchedulerJob is true."),
    integer(_S + "cycle", "Runs every this many cycleType units; required when isSchedulerJob is true."),
    string(_S + "runAt", "Minutes (hour), weekdays mon..sun (week) or days 1-31 (month) to run at, "
                         "comma-separated; default from startDate."),
    string(_S + "startDate", "First possible run, yyyy-MM-dd HH:mm:ss in the server's time zone; "
                             "required when isSchedulerJob is true."),
    string(_S + "stopDate", "Last possible run, yyyy-MM-dd HH:mm:ss; unset: no end."),
    enum(_S + "disposableType", ("NONE", "DELETE_AFTER_SUCCEED", "DELETE"),
         "Delete the job after a successful run (DELETE_AFTER_SUCCEED) or after any run (DELETE).", default="NONE"),
)
