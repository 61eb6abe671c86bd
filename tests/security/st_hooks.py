"""schemathesis hooks for tests/security/test_schemathesis.py: the CDM error-body check."""

from __future__ import annotations

import json

import schemathesis

ERROR_KEYS = ("error_code", "error_msg", "code", "message", "errCode", "externalMessage")


@schemathesis.check
def cdm_error_body(ctx, response, case):
    """Every 4xx answer is a JSON object with the three CDM key pairs, each pair saying the same."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = json.loads(response.content or b"")
    except ValueError:
        raise AssertionError(f"{response.status_code} body is not JSON: {response.content[:200]!r}") from None
    if not isinstance(body, dict):
        raise AssertionError(f"{response.status_code} body is not a JSON object: {body!r:.200}")
    missing = [k for k in ERROR_KEYS if not isinstance(body.get(k), str)]
    if missing:
        raise AssertionError(f"{response.status_code} body lacks {missing}; keys: {sorted(body)}")
    if not (body["error_code"] == body["code"] == body["errCode"]
            and body["error_msg"] == body["message"] == body["externalMessage"]):
        raise AssertionError(f"{response.status_code} body's key pairs disagree: {body}")
    return None
