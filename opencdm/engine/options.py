"""The job's driver inputs (``throttlingConfig``) parsed once, the same way at job creation and at
run start, so what a job was accepted with is what it runs with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opencdm.engine.throttle import job_limits
from opencdm.errors import InvalidInput

NUM_EXTRACTORS = "throttlingConfig.numExtractors"
MAX_EXTRACTORS = 64


@dataclass(frozen=True)
class DriverOptions:
    num_extractors: int = 1
    #: Job-wide rate limits (0 = unlimited), see ``engine.throttle``.
    rows_per_s: float = 0.0
    bytes_per_s: float = 0.0

    @classmethod
    def parse(cls, driver: Mapping[str, Any]) -> DriverOptions:
        """InvalidInput naming the input for anything out of range (numExtractors: 1 to 64)."""
        raw = driver.get(NUM_EXTRACTORS)
        text = "1" if raw in (None, "") else str(raw).strip()
        if isinstance(raw, bool) or not text.isdigit() or not 1 <= int(text) <= MAX_EXTRACTORS:
            raise InvalidInput(f"{NUM_EXTRACTORS} must be an integer from 1 to {MAX_EXTRACTORS}, got {raw!r}.",
                               code="Cdm.0009")
        rows_per_s, bytes_per_s = job_limits(driver)
        return cls(int(text), rows_per_s, bytes_per_s)
