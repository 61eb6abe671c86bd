"""``extended-configs`` fields reach connectors as inputs (``linkConfig.httpsAccess``), decoded leniently."""

from __future__ import annotations

import base64
import json

from opencdm.extended import extended_inputs
from opencdm.wire.common import ConfigValues


def body(value: str, inputs: list | None = None) -> dict:
    return {"configs": [{"name": "linkConfig", "inputs": inputs or []}],
            "extended-configs": {"name": "linkConfig.extendedFields", "value": value}}


def test_fields_become_inputs_and_a_given_input_wins():
    value = base64.b64encode(json.dumps({"httpsAccess": "true", "nested": {"x": 1}}).encode()).decode()
    assert extended_inputs(body(value)) == {"linkConfig.httpsAccess": "true"}  # only scalar fields
    flat = ConfigValues.model_validate(body(value, [{"name": "linkConfig.httpsAccess", "value": "false"}])).flat()
    assert flat == {"linkConfig.httpsAccess": "false"}


def test_cdm_samples_damaged_character_and_junk():
    assert extended_inputs(body("eyLodHRwc0FjY2VzcyI6InRydWUifQ==")) == {"linkConfig.httpsAccess": "true"}
    assert extended_inputs(body("e30=")) == {}
    assert extended_inputs(body("not base64 at all!")) == {}
    assert extended_inputs({"extended-configs": None}) == {} and extended_inputs(None) == {}
