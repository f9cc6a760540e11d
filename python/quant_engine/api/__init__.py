"""The REST and WebSocket API (``quant-engine serve``; ``docs/api.md``).

``create_app(settings)`` returns the FastAPI app: msgspec bodies and responses (their JSON
Schemas in ``/openapi.json``), one error body, bearer-token auth on mutating endpoints and
WebSockets, the original quant-engine's data endpoints and the research store's."""

from __future__ import annotations

from quant_engine.api.app import create_app
from quant_engine.api.errors import ApiError, ErrorBody
from quant_engine.api.settings import ApiSettings

__all__ = ["create_app", "ApiSettings", "ApiError", "ErrorBody"]
