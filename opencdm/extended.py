"""CDM's ``extended-configs``: ``{"name": "linkConfig.extendedFields", "value": <base64 of a JSON object>}``
next to a config's inputs. Its fields count as inputs of the group the name starts with
(``linkConfig.httpsAccess``); an input given by name wins. CDM's own samples carry one damaged
character (``eyL...`` where ``{"`` encodes as ``eyJ...``), so decoding is lenient; a value that is not
base64 JSON is kept as given and contributes no input."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def extended_inputs(config_values: dict[str, Any] | None) -> dict[str, Any]:
    ext = (config_values or {}).get("extended-configs")
    if not isinstance(ext, dict) or not isinstance(ext.get("value"), str) or not ext["value"].strip():
        return {}
    name = ext.get("name") if isinstance(ext.get("name"), str) else ""
    prefix = name.rsplit(".", 1)[0] if "." in name else ""
    raw = ext["value"].strip()
    for text in (raw, "eyJ" + raw[3:] if raw.startswith("eyL") else None):
        if text is None:
            continue
        try:
            doc = json.loads(base64.b64decode(text + "=" * (-len(text) % 4), validate=True))
        except (ValueError, binascii.Error):
            continue
        if isinstance(doc, dict):
            return {f"{prefix}.{k}" if prefix else k: v for k, v in doc.items()
                    if isinstance(k, str) and isinstance(v, (str, int, float, bool))}
    return {}
