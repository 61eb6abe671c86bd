"""Pydantic models of the CDM JSON pieces shared by links and jobs. No logic beyond shape."""

from __future__ import annotations

import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opencdm.extended import extended_inputs
from opencdm.text import has_control


class Wire(BaseModel):
    """Base for wire models: wire names via aliases, unknown keys kept (clients send Sqoop extras).

    Declared types are strict: ``false`` is not an integer, ``123`` is not a name. Config input
    values stay any JSON value (spec §1.9); connectors read them by their declared input types.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, strict=True)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


def _control_path(value: Any, path: str) -> str | None:
    """The path of the first string in ``value`` holding a control character: values may hold tabs
    and line breaks (SQL has them), keys nothing of the kind."""
    if isinstance(value, str):
        return path if has_control(value, allow_whitespace=True) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and has_control(key):
                return f"{path}.{key!r}" if path else repr(key)
            if found := _control_path(item, f"{path}.{key}" if path else str(key)):
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            if found := _control_path(item, f"{path}.{i}" if path else str(i)):
                return found
    return None


class RequestBody(Wire):
    """A whole request body: no string anywhere in it may hold a NUL or another control character."""

    @model_validator(mode="before")
    @classmethod
    def _no_control_characters(cls, data: Any) -> Any:
        if (where := _control_path(data, "")) is not None:
            raise ValueError(f"{where or 'the body'} holds a control character (NUL, ESC, ...), which no CDM input "
                             "may hold")
        return data


def check_name(value: str, max_length: int = 240) -> str:
    """The CDM naming rule (spec §14.5): 1-``max_length`` letters, digits, ``-``, ``_`` or ``.``, not
    starting with ``-`` or ``.``. Letters and digits may be any Unicode ones, in NFC form."""
    if not 1 <= len(value) <= max_length:
        raise ValueError(f"a name has 1 to {max_length} characters")
    if value[0] in "-." or not all(ch.isalnum() or ch in "-_." for ch in value):
        raise ValueError("a name may only hold letters, digits, '-', '_' and '.', and cannot start with '-' or '.'")
    if unicodedata.normalize("NFC", value) != value:
        raise ValueError("a name must be in Unicode NFC form")
    return value


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
        """``{"fromJobConfig.tableName": "t", ...}`` across every group; later inputs win. The fields of
        ``extended-configs`` (``{"name": "linkConfig.extendedFields", "value": <base64 JSON>}``) join as
        ``linkConfig.<field>`` (``linkConfig.httpsAccess``) unless an input of that name is given."""
        ext = self.extended_configs
        out = extended_inputs({"extended-configs": ext.model_dump() if ext else None})
        out.update({i.name: i.value for c in self.configs for i in c.inputs})
        return out


def flat_inputs(config_values: dict[str, Any] | None) -> dict[str, Any]:
    """The flat view of a stored ``*-config-values`` dict."""
    return ConfigValues.model_validate(config_values or {}).flat()


class ErrorBody(BaseModel):
    """Every error answer (spec §7): the three key pairs the SDK and raw CDM clients read, one value each.

    Link validation failures add ``validation-result``; other keys may follow.
    """

    error_code: str
    error_msg: str
    code: str
    message: str
    errCode: str
    externalMessage: str
    request_id: str | None = None
