"""A run and its retries (``retryJobConfig.retryJobType=RETRY_TRIPLE``): a run that fails for a
retryable reason (a store that did not answer, a lost worker: ``CdmError.retryable``) is started
again, up to ``retries`` times, after ``backoff`` seconds doubling each time. A run that fails for
a reason retrying cannot fix (refused credentials, a missing table, bad input) ends at once. The
submission stays RUNNING between attempts and shows the last attempt's counters; a stop ends it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from opencdm.engine.runner import ProgressSink
from opencdm.engine.spec import Counters
from opencdm.errors import CdmError

log = logging.getLogger("opencdm.engine")


class Attempts(ProgressSink):
    """The submission's sink, holding back a retryable failure while attempts are left."""

    def __init__(self, sink: ProgressSink, retries: int) -> None:
        self.sink, self.left = sink, retries
        self.held: tuple[Counters, CdmError] | None = None
        self.stopped = threading.Event()

    def running(self) -> None:
        self.sink.running()

    def progress(self, counters: Counters, progress: float, sub_jobs: list | None = None) -> None:
        self.sink.progress(counters, progress, sub_jobs)

    def positions(self, source: str) -> dict:
        return self.sink.positions(source)

    def save_positions(self, source: str, positions: dict) -> None:
        self.sink.save_positions(source, positions)

    def checkpoint(self, data: dict | None) -> None:
        self.sink.checkpoint(data)

    def write_path(self, text: str) -> None:
        self.sink.write_path(text)

    def finished(self, ok: bool, counters: Counters, error: CdmError | None) -> None:
        if not ok and error is not None and error.retryable and self.left > 0 and not self.stopped.is_set():
            self.held = (counters, error)
            return
        self.held = None
        self.sink.finished(ok, counters, error)


def run_attempts(first: Any, make: Callable[[], Any], attempts: Attempts, backoff: float,
                 on_new: Callable[[Any], None], sid: int) -> None:
    """Run ``first``; while ``attempts`` holds back a retryable failure, wait and run ``make()``."""
    runner, delay = first, backoff
    while True:
        runner.run()
        if attempts.held is None:
            return
        counters, error = attempts.held
        attempts.left -= 1
        log.warning("retrying submission=%s in %.1fs (%s left) after %s: %s", sid, delay, attempts.left,
                    type(error).__name__, error)
        if attempts.stopped.wait(delay):
            attempts.held = None
            attempts.sink.finished(False, counters, error)
            return
        getattr(runner, "discard", lambda: None)()  # a retry starts afresh: no staging kept for a resume
        runner = make()
        on_new(runner)
        delay *= 2
