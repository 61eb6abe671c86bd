"""Resumable runs (``throttlingConfig.resumable``, an opencdm extension; CDM cannot resume).

A resumable run writes a checkpoint on its submission: its run id (which names its staging), its
partition plan, the data path it chose, and each partition as it finishes with what it loaded. When
it fails or is stopped (or the server dies under it), its staging is kept instead of dropped. The next
start of the job with ``{"resume": true}`` takes that run up: same run id, same plan, the finished
partitions skipped (not read again), the others loaded, then one commit of the whole staging, so the
target ends exactly as after a clean run. A start without ``resume`` drops the kept staging first.

The plan and results are pickled (key bounds may be decimals, dates, timestamps): they are written
and read only by the server, in its own metadata store.
"""

from __future__ import annotations

import base64
import pickle
from dataclasses import dataclass
from typing import Any

from opencdm.connectors.base import Partition
from opencdm.engine.spec import PartitionResult


def _pack(value: Any) -> str:
    return base64.b64encode(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)).decode()


def _unpack(text: str) -> Any:
    return pickle.loads(base64.b64decode(text))  # noqa: S301 - our own metadata, written by this server


def started(run_id: str, parts: list[Partition], native: str | None) -> dict[str, Any]:
    """The checkpoint of a run that planned ``parts`` and chose the data path ``native``."""
    return {"run_id": run_id, "plan": _pack(parts), "parts": len(parts), "native": native, "done": {}}


def finished(checkpoint: dict[str, Any], result: PartitionResult) -> dict[str, Any]:
    """``checkpoint`` with ``result``'s partition recorded as finished."""
    return {**checkpoint, "done": {**checkpoint.get("done", {}), str(result.index): _pack(result)}}


@dataclass(frozen=True)
class Resume:
    """What a resumed run takes over from the run it continues."""

    from_submission: int
    run_id: str
    parts: list[Partition]
    native: str | None
    done: dict[int, PartitionResult]

    @classmethod
    def of(cls, submission_id: int, checkpoint: dict[str, Any]) -> Resume:
        done = {int(k): _unpack(v) for k, v in checkpoint.get("done", {}).items()}
        return cls(submission_id, checkpoint["run_id"], _unpack(checkpoint["plan"]), checkpoint.get("native"), done)

    def checkpoint(self) -> dict[str, Any]:
        """The checkpoint the resumed run starts from (it can be resumed again)."""
        out = started(self.run_id, self.parts, self.native)
        for result in self.done.values():
            out = finished(out, result)
        return {**out, "resumed_from": self.from_submission}
