"""Request bodies for jobs, links, starts and the random-cluster call (spec §5)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from opencdm.wire.common import ConfigValues, RequestBody, Wire, check_name

JobType = Literal["NORMAL_JOB", "BATCH_JOB", "SCENARIO_JOB"]


class JobIn(Wire):
    """One job as clients send it. Table 4 mandatory fields are required here; ``name`` may be generated."""

    job_type: JobType = "NORMAL_JOB"
    from_connector_name: str = Field(alias="from-connector-name", min_length=1)
    to_connector_name: str | None = Field(default=None, alias="to-connector-name")
    from_link_name: str | None = Field(default=None, alias="from-link-name")
    to_link_name: str = Field(alias="to-link-name", min_length=1)
    from_config_values: ConfigValues = Field(alias="from-config-values")
    to_config_values: ConfigValues = Field(alias="to-config-values")
    driver_config_values: ConfigValues = Field(alias="driver-config-values")
    name: str | None = Field(default=None, min_length=1, max_length=240)

    _name = field_validator("name")(lambda cls, v: v if v is None else check_name(v))


class JobsIn(RequestBody):
    jobs: list[JobIn] = Field(min_length=1)


class RandomClusterJobsIn(RequestBody):
    jobs: list[JobIn] = Field(min_length=1)
    clusters: list[str] = Field(min_length=1)


class StartJobIn(RequestBody):
    variables: dict[str, Any] | None = None
    #: opencdm extension: take up the job's last failed or stopped run (throttlingConfig.resumable).
    resume: bool | None = None


class LinkIn(Wire):
    name: str = Field(min_length=1, max_length=240)
    connector_name: str = Field(alias="connector-name", min_length=1)
    link_config_values: ConfigValues = Field(alias="link-config-values")
    enabled: bool | None = None

    _name = field_validator("name")(lambda cls, v: check_name(v))


class LinksIn(RequestBody):
    links: list[LinkIn] = Field(min_length=1)
