"""The OpenAPI document tells the truth about errors: every route lists the CDM error answers it can
give (400, 401, 403, 404, 405, 413, 429) with the one error body, and none of FastAPI's 422s."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from opencdm.api.iam import TokenRequest
from opencdm.wire.common import ErrorBody

ERRORS = {
    "400": "Invalid input (a Cdm.xxxx code names what is wrong).",
    "401": "Missing, wrong, expired or replayed credentials (APIGW.0301/0303).",
    "403": "The credential belongs to another project (Cdm.0032).",
    "404": "No such cluster, link, job, submission or route in this project.",
    "405": "The route does not take this method (the Allow header lists those it takes).",
    "413": "The request body is over OPENCDM_MAX_BODY_BYTES (Cdm.0011).",
    "429": "Too many failed logins or logins at once (APIGW.0308; see Retry-After).",
}
#: The login route is not authenticated, so it can be neither 403 nor 404.
_LOGIN = ("400", "401", "405", "413", "429")


def install(app: FastAPI) -> None:
    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = doc.setdefault("components", {}).setdefault("schemas", {})
            components["ErrorBody"] = ErrorBody.model_json_schema()
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            _token_body(doc, components)
            ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
            for path, methods in doc.get("paths", {}).items():
                for operation in methods.values():
                    responses = operation.setdefault("responses", {})
                    responses.pop("422", None)
                    for status, text in ERRORS.items():
                        if path.startswith("/v1.1/") or status in _LOGIN:
                            responses.setdefault(status, {"description": text, "content": ref})
                    if status_429 := responses.get("429"):
                        status_429.setdefault("headers", {"Retry-After": {"schema": {"type": "integer"},
                                                                          "description": "Seconds to wait."}})
                    if status_405 := responses.get("405"):
                        status_405.setdefault("headers", {"Allow": {"schema": {"type": "string"},
                                                                    "description": "Methods the route takes."}})
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]


def _token_body(doc: dict[str, Any], components: dict[str, Any]) -> None:
    """The login route reads its body itself (to throttle before it parses much); document it anyway."""
    schema = TokenRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components["TokenRequest"] = schema
    operation = doc.get("paths", {}).get("/v3/auth/tokens", {}).get("post")
    if operation is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/TokenRequest"}}}}
