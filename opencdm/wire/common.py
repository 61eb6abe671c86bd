"""Pydantic models of the CDM JSON pieces shared by links and jobs. No logic beyond shape."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Wire(BaseModel):
    """Base for wire models: wire names via aliases, unknown keys kept (clients send Sqoop extras)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class Input(Wire):
    name: str = Field(min_length=1)
    value: Any = None
    type: str | None = None


class Config(Wire):
    name: str = Field(min_length=1)
    inputs: list[Input] = Field(default_factory=list)

    @field_validator("inputs", mode="before")
    @classmethod
    def _empty_object_is_empty_list(cls, value: Any) -> Any:
        # Doc examples send "inputs": {} for an empty group; we accept it and always return [].
        if isinstance(value, dict) and not value:
            return []
        return value


class ExtendedConfigs(Wire):
    name: str | None = None
    value: str | None = None


class ConfigValues(Wire):
    configs: list[Config] = Field(default_factory=list)
    extended_configs: ExtendedConfigs | None = Field(default=None, alias="extended-configs")
    validators: list[Any] | None = None

    def flat(self) -> dict[str, Any]:
        """``{"fromJobConfig.tableName": "t", ...}`` across every group; later inputs win."""
        return {i.name: i.value for c in self.configs for i in c.inputs}


def flat_inputs(config_values: dict[str, Any] | None) -> dict[str, Any]:
    """The flat view of a stored ``*-config-values`` dict."""
    return ConfigValues.model_validate(config_values or {}).flat()
