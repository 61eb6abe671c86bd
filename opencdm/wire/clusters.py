"""Request bodies for clusters (spec §5, "Cluster request bodies")."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from opencdm.wire.common import RequestBody, Wire, check_name

#: CDM flavors (spec §9.5): id -> (name, vCPUs, GB RAM). A local cluster gets one worker per vCPU.
FLAVORS: dict[str, tuple[str, int, int]] = {
    "a79fd5ae-1833-448a-88e8-3ea2b913e1f6": ("cdm.small", 2, 4),
    "fb8fe666-6734-4b11-bc6c-43d11db3c745": ("cdm.medium", 4, 8),
    "5ddb1071-c5d7-40e0-a874-8a032e81a697": ("cdm.large", 8, 16),
    "6ddb1072-c5d7-40e0-a874-8a032e81a698": ("cdm.xlarge", 16, 32),
}
DEFAULT_FLAVOR = "a79fd5ae-1833-448a-88e8-3ea2b913e1f6"


class InstanceIn(Wire):
    availability_zone: str | None = None
    nics: list[dict[str, Any]] | None = None
    flavorRef: str | None = None
    type: str | None = None


class ClusterSpecIn(Wire):
    name: str = Field(min_length=1, max_length=64)
    vpcId: str | None = None
    instances: list[InstanceIn] | None = None
    datastore: dict[str, Any] | None = None
    isAutoOff: bool | None = None
    isScheduleBootOff: bool | None = None
    scheduleBootTime: str | None = None
    scheduleOffTime: str | None = None
    sys_tags: list[dict[str, Any]] | None = None
    extended_properties: dict[str, Any] | None = None

    _name = field_validator("name")(lambda cls, v: check_name(v, 64))


class CreateClusterIn(RequestBody):
    cluster: ClusterSpecIn
    auto_remind: bool | None = None
    phone_num: str | None = None
    email: str | None = None


class ModifyClusterIn(RequestBody):
    autoOff: bool | None = None
    scheduleBootOff: bool | None = None
    scheduleBootTime: str | None = None
    scheduleOffTime: str | None = None
    autoRemind: bool | None = None
    phoneNum: str | None = None
    email: str | None = None


class StopSpec(Wire):
    stopMode: str = "IMMEDIATELY"
    delayTime: int | None = None


class RestartSpec(Wire):
    restartDelayTime: int | None = None
    restartMode: str | None = "IMMEDIATELY"
    restartLevel: str | None = "SERVICE"
    type: str | None = "cdm"


class ClusterActionIn(RequestBody):
    """Exactly one of ``start``, ``stop``, ``restart`` (checked by the router)."""

    start: dict[str, Any] | None = None
    stop: StopSpec | None = None
    restart: RestartSpec | None = None


class DeleteClusterIn(RequestBody):
    keep_last_manual_backup: int | None = None
