"""The OpenAPI document: FastAPI's paths with msgspec's component schemas and one error body."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from quant_engine.api.io import ERROR_STATUSES, ref, schema_types

__all__ = ["install_openapi"]

_METHODS = ("get", "put", "post", "delete", "patch")


def _error_responses(op: dict[str, Any]) -> None:
    responses = op.setdefault("responses", {})
    error = {"application/json": {"schema": ref(_error_type())}}
    for status, text in ERROR_STATUSES.items():
        responses[str(status)] = {"description": text, "content": error}


def _error_type() -> Any:
    from quant_engine.api.errors import ErrorBody

    return ErrorBody


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The document: paths from FastAPI, request and response bodies and every component schema
    from msgspec, error responses (:class:`~quant_engine.api.errors.ErrorBody`) on every operation."""
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for item in doc.get("paths", {}).values():
        for method in _METHODS:
            if method in item:
                _error_responses(item[method])
    _, components = msgspec.json.schema_components(schema_types(), ref_template="#/components/schemas/{name}")
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update(components)
    doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    doc["security"] = [{}, {"bearer": []}]
    return doc


def install_openapi(app: FastAPI) -> None:
    """Makes ``app.openapi()`` (and so ``/openapi.json`` and ``/docs``) serve :func:`build_openapi`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
