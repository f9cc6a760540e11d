"""Guardian, the operator's dashboard (``docs/dashboard.md``): server-rendered HTML (Jinja2)
fragments fetched by a small script that also acts through the JSON API and listens to
``/ws/events``; served by the API app (:func:`install_dashboard`)."""

from __future__ import annotations

from typing import Any

__all__ = ["install_dashboard"]


def install_dashboard(app: Any) -> None:
    """Adds the dashboard's routes (``/``, ``/static/*``, ``/ui/*``) to a FastAPI app."""
    from quant_engine.web.routes import router

    app.include_router(router)
