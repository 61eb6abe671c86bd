"""The docs cannot fall behind the code: error codes raised are in the CDM table, options are in the README."""

from __future__ import annotations

import re
from pathlib import Path

from opencdm.errors import CDM_CODES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _sources() -> str:
    return "\n".join(p.read_text() for p in (ROOT / "opencdm").rglob("*.py"))


def test_every_code_raised_is_in_the_cdm_code_table():
    raised = set(re.findall(r'code\s*=\s*"((?:Cdm|APIGW)\.\d{4})"', _sources()))
    assert raised, "no codes found: the pattern is wrong"
    missing = sorted(raised - set(CDM_CODES))
    assert not missing, f"add these to opencdm/errors.py CDM_CODES: {missing}"


def test_every_interpreted_input_is_documented():
    names = set(re.findall(r'"((?:linkConfig|fromJobConfig|toJobConfig|throttlingConfig)\.(\w+))"', _sources()))
    undocumented = sorted(full for full, short in names if short not in README)
    assert not undocumented, f"document these inputs in the README: {undocumented}"


def test_every_setting_is_documented():
    from opencdm.settings import Settings

    for name in Settings.model_fields:
        assert f"OPENCDM_{name.upper()}" in README, name
