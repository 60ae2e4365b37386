"""The OpenAPI document the app serves: FastAPI's, corrected to what the API really answers."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_ERROR = {
    "description": "Bad Request",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorModel"}}},
}

SECURITY_SCHEMES = {
    "basic": {"type": "http", "scheme": "basic"},
    "session": {"type": "apiKey", "in": "cookie", "name": "sid"},
    "token": {"type": "apiKey", "in": "query", "name": "auth-token"},
}


def as_served(schema: dict) -> dict:
    """The generated document, corrected to what the API really answers.

    - A validation error is a 400 (see errors.py), never FastAPI's 422; and every route may
      answer 400, to a URL that api/urls.py refuses.
    - A success documented as JSON with the empty schema ``{}`` is FastAPI's default for a
      route that declares no model: such routes answer no body (or another media type, like
      the event stream), so that JSON entry is dropped rather than promising any JSON.
    """
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            responses.setdefault("400", _ERROR)
            for status, response in responses.items():
                content = response.get("content", {})
                if status.startswith("2") and content.get("application/json") == {"schema": {}}:
                    del content["application/json"]
                    if not content:
                        del response["content"]
    for unused in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(unused, None)
    return schema


def install(app: FastAPI) -> None:
    """Serve the corrected document, with the three ways to authenticate, built once."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema["components"]["securitySchemes"] = SECURITY_SCHEMES
            schema["security"] = [{"basic": []}, {"session": []}, {"token": []}]
            app.openapi_schema = as_served(schema)
        return app.openapi_schema

    app.openapi = openapi
