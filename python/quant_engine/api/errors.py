"""One error body everywhere (``{code, message, path?}``) and the mapping of the project's typed
errors to HTTP statuses. A bad input is a 4xx with a reason; anything unexpected is logged and
answered with a 500 body that says nothing about the internals."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from quant_engine import errors as E
from quant_engine.store import errors as SE

__all__ = ["ErrorBody", "ApiError", "error_response", "error_message", "install_error_handlers", "status_of"]

log = logging.getLogger("quant_engine.api")


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """The body of every error response.

    ``code`` is a stable machine-readable word, ``message`` one line for a human, ``path`` the
    location of the offending value in the request body (``$.field[0]``) or the query parameter
    for validation errors."""

    code: str
    message: str
    path: str | None = None


class ApiError(Exception):
    """An error raised by an endpoint with its HTTP status and body."""

    def __init__(self, status: int, code: str, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(code, message, path)


def error_response(
    status: int, code: str, message: str, path: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response carrying :class:`ErrorBody`."""
    return Response(msgspec.json.encode(ErrorBody(code, message, path)), status_code=status, media_type="application/json",
                    headers=headers)  # fmt: skip


# (class, status, code), most specific first.
_MAPPING: tuple[tuple[type[BaseException], int, str], ...] = (
    (SE.IllegalTransitionError, 409, "illegal_transition"),
    (SE.UnknownRecordError, 404, "not_found"),
    (SE.StoreVersionError, 503, "store_unavailable"),
    (SE.StoreInputError, 422, "invalid_input"),
    (SE.StoreError, 422, "invalid_input"),
    (E.NoDataError, 404, "no_data"),
    (E.VendorUnavailableError, 503, "vendor_unavailable"),
    (E.VendorRateLimitError, 503, "vendor_rate_limited"),
    (E.VendorError, 502, "vendor_error"),
    (E.UnknownSymbolError, 422, "unknown_symbol"),
    (E.InternalError, 500, "internal_error"),
    (E.QuantEngineError, 422, "invalid_input"),
)


def status_of(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and error code for one of the project's typed errors."""
    for cls, status, code in _MAPPING:
        if isinstance(exc, cls):
            return status, code
    return 500, "internal_error"


_MSGSPEC_PATH = re.compile(r" - at `(\$[^`]*)`$")


def msgspec_error(exc: msgspec.ValidationError | msgspec.DecodeError) -> ApiError:
    """A 422 :class:`ApiError` from a msgspec decoding error, with the JSON path it names."""
    text = str(exc)
    m = _MSGSPEC_PATH.search(text)
    message = text[: m.start()] if m else text
    if isinstance(exc, msgspec.ValidationError):
        return ApiError(422, "validation_error", message, m.group(1) if m else None)
    return ApiError(422, "invalid_json", f"the body is not valid JSON: {message}", m.group(1) if m else None)


def error_message(exc: BaseException) -> str:
    """The first line of an exception's message (a ``KeyError``'s without its quotes)."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def install_error_handlers(app: FastAPI) -> None:
    """Registers the handlers that turn every failure into an :class:`ErrorBody` response."""

    async def api_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return Response(msgspec.json.encode(exc.body), status_code=exc.status, media_type="application/json")

    async def typed_error(request: Request, exc: Exception) -> Response:
        status, code = status_of(exc)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
            if status == 500:
                return error_response(500, code, "internal error (logged on the server)")
        return error_response(status, code, error_message(exc))

    async def validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ())]
        path = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else None)
        where = f"{loc[0]} parameter {path!r}: " if loc and path else ""
        return error_response(422, "validation_error", f"{where}{first.get('msg', 'invalid request')}", path)

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "internal error (logged on the server)")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(E.QuantEngineError, typed_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
