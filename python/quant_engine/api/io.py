"""msgspec at the edge: request bodies decoded (and validated) by msgspec, responses encoded by
msgspec, and the OpenAPI description of both built from the Structs' JSON Schemas.

An endpoint declares its types with :func:`operation` (which registers them for the OpenAPI
document), reads its body with :func:`read_body` and answers with :func:`reply`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec
from fastapi import Request
from starlette.responses import Response

from quant_engine.api.errors import ErrorBody, msgspec_error

__all__ = ["operation", "read_body", "reply", "schema_types", "ref", "ERROR_STATUSES"]

T = TypeVar("T")

_TYPES: set[Any] = {ErrorBody}

ERROR_STATUSES: dict[int, str] = {
    401: "Missing or wrong bearer token",
    403: "Mutating endpoints are disabled: QE_API_TOKEN is not set",
    404: "Not found",
    409: "Conflict (e.g. an illegal lifecycle transition)",
    413: "Request body too large",
    429: "Too many jobs waiting (retry after the Retry-After header's seconds)",
    422: "Invalid request (body, path or query)",
    500: "Internal error (details are only in the server's log)",
    502: "A market-data vendor failed",
    503: "A dependency (store, vendor) is unavailable",
}
"""Error statuses any operation may answer, all with an :class:`ErrorBody`."""


def ref(tp: Any) -> dict[str, Any]:
    """A JSON Schema for ``tp``: a ``$ref`` for a Struct, the inline schema otherwise."""
    _TYPES.add(tp)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return {"$ref": f"#/components/schemas/{tp.__name__}"}
    (schema,), _ = msgspec.json.schema_components([tp], ref_template="#/components/schemas/{name}")
    return dict(schema)


def operation(
    *,
    body: Any = None,
    body_required: bool = True,
    response: Any = None,
    status: int = 200,
    description: str = "OK",
    media: Iterable[str] = (),
) -> dict[str, Any]:
    """Keyword arguments for a FastAPI route decorator that document a msgspec ``body`` and
    ``response`` (their schemas land in ``components/schemas``). ``media`` lists extra response
    media types (binary, schema-less)."""
    extra: dict[str, Any] = {}
    if body is not None:
        extra["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": ref(body)}}}
    content: dict[str, Any] = {}
    if response is not None:
        content["application/json"] = {"schema": ref(response)}
    for m in media:
        content[m] = {"schema": {"type": "string", "format": "binary"}}
    return {
        "status_code": status,
        "response_class": Response,
        "openapi_extra": extra,
        "responses": {status: {"description": description, "content": content}},
    }


def schema_types() -> list[Any]:
    """Every type registered by :func:`operation` / :func:`ref`."""
    return sorted(_TYPES, key=lambda t: getattr(t, "__name__", repr(t)))


async def read_body(request: Request, tp: type[T], *, empty_ok: bool = False) -> T:
    """The request body decoded as ``tp``; an invalid body raises a 422
    :class:`~quant_engine.api.errors.ApiError` naming the JSON path. With ``empty_ok`` an empty
    body decodes as ``{}`` (every field at its default)."""
    raw = await request.body()
    if empty_ok and not raw.strip():
        raw = b"{}"
    try:
        return msgspec.json.decode(raw, type=tp)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise msgspec_error(exc) from None


def reply(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with ``value`` encoded by msgspec."""
    return Response(msgspec.json.encode(value), status_code=status, media_type="application/json", headers=headers)
