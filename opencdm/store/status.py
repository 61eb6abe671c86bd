"""Submission states (spec §9.4) and the transitions the engine allows."""

from __future__ import annotations

BOOTING = "BOOTING"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
FAILURE_ON_SUBMIT = "FAILURE_ON_SUBMIT"
UNKNOWN = "UNKNOWN"
NEVER_EXECUTED = "NEVER_EXECUTED"

#: A run in one of these states holds its job: it cannot be started again until it ends.
ACTIVE = (BOOTING, RUNNING)
FINAL = (SUCCEEDED, FAILED, FAILURE_ON_SUBMIT)

ALLOWED: dict[str, set[str]] = {
    BOOTING: {RUNNING, FAILED, FAILURE_ON_SUBMIT},
    RUNNING: {SUCCEEDED, FAILED},
}


def can_move(current: str, new: str) -> bool:
    return new in ALLOWED.get(current, set())
