"""The job's driver inputs (``throttlingConfig``) parsed once, the same way at job creation and at
run start, so what a job was accepted with is what it runs with."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opencdm.engine.throttle import job_limits
from opencdm.errors import InvalidInput

NUM_EXTRACTORS = "throttlingConfig.numExtractors"
MAX_EXTRACTORS = 64
#: CDM reads it for HBase and Hive destinations only (spec); opencdm has neither, and every partition
#: writes through one loader, so it is checked (the seed's example sends 1) and changes nothing.
NUM_LOADERS = "throttlingConfig.numLoaders"
CONCURRENT_SUB_JOBS = "throttlingConfig.concurrentSubJobs"
MAX_SUB_JOBS = 32
RETRY_TYPE, RETRIES = "retryJobConfig.retryJobType", {"NONE": 0, "RETRY_TRIPLE": 3}
RESUMABLE = "throttlingConfig.resumable"
DISPOSABLE_TYPE, DISPOSABLE = "schedulerConfig.disposableType", ("NONE", "DELETE_AFTER_SUCCEED", "DELETE")


@dataclass(frozen=True)
class DriverOptions:
    num_extractors: int = 1
    #: Job-wide rate limits (0 = unlimited), see ``engine.throttle``.
    rows_per_s: float = 0.0
    bytes_per_s: float = 0.0
    #: Tables of an entire-database job (BATCH_JOB) moved at once.
    concurrent_sub_jobs: int = 1
    #: Times a run that failed for a retryable reason is started again (RETRY_TRIPLE: 3).
    retries: int = 0
    #: When the job is deleted after a run: NONE, DELETE_AFTER_SUCCEED or DELETE (after any run).
    disposable: str = "NONE"
    #: Runs keep a checkpoint and, when they fail or stop, their staging, so a start can resume them.
    resumable: bool = False

    @classmethod
    def parse(cls, driver: Mapping[str, Any]) -> DriverOptions:
        """InvalidInput naming the input for anything out of range (numExtractors and numLoaders: 1 to
        64, concurrentSubJobs: 1 to 32)."""
        rows_per_s, bytes_per_s = job_limits(driver)
        _count(driver, NUM_LOADERS, MAX_EXTRACTORS)
        return cls(_count(driver, NUM_EXTRACTORS, MAX_EXTRACTORS), rows_per_s, bytes_per_s,
                   _count(driver, CONCURRENT_SUB_JOBS, MAX_SUB_JOBS), RETRIES[_choice(driver, RETRY_TYPE, RETRIES)],
                   _choice(driver, DISPOSABLE_TYPE, DISPOSABLE), _flag(driver, RESUMABLE))


def _flag(driver: Mapping[str, Any], name: str) -> bool:
    raw = driver.get(name)
    if raw in (None, "") or raw is False or raw is True:
        return bool(raw)
    if str(raw).strip().lower() not in ("true", "false"):
        raise InvalidInput(f"{name} must be true or false, got {raw!r}.", code="Cdm.0014")
    return str(raw).strip().lower() == "true"


def _choice(driver: Mapping[str, Any], name: str, allowed: Iterable[str]) -> str:
    raw = driver.get(name)
    value = "NONE" if raw in (None, "") else str(raw).strip()
    if value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}, got {raw!r}.", code="Cdm.0014")
    return value


def _count(driver: Mapping[str, Any], name: str, most: int) -> int:
    raw = driver.get(name)
    text = "1" if raw in (None, "") else str(raw).strip()
    if isinstance(raw, bool) or not text.isdigit() or not 1 <= int(text) <= most:
        raise InvalidInput(f"{name} must be an integer from 1 to {most}, got {raw!r}.", code="Cdm.0009")
    return int(text)
