"""The dashboard's routes: the shell page at ``/`` (no data), its static assets under
``/static/`` (our script and styles, and plotly.js from the plotly package), and the HTML
fragments the shell fetches with the operator's token: ``/ui/panels/{name}`` and
``/ui/strategies/{hash}``. Reads follow the API's rules (open by default, guarded with
``QE_API_READ_TOKEN=1``); every action goes through the JSON API."""

from __future__ import annotations

import functools
import json
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from starlette.responses import FileResponse, HTMLResponse, Response

from quant_engine.api.errors import ApiError
from quant_engine.api.state import app_state, run_sync
from quant_engine.web import panels

__all__ = ["router", "templates"]

router = APIRouter(include_in_schema=False)

_STATIC = {
    "guardian.js": "application/javascript",
    "guardian.css": "text/css",
}
PanelName = Annotated[str, PathParam(pattern="^[a-z]+$", max_length=32)]
HashArg = Annotated[str, PathParam(min_length=4, max_length=64, pattern="^[0-9a-fA-F]+$")]


@functools.lru_cache(maxsize=1)
def templates() -> Any:
    """The Jinja2 environment over the package's templates (autoescaped)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("quant_engine.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["time"] = panels.fmt_time
    env.filters["short"] = lambda h: str(h)[:12]
    env.filters["tojson_attr"] = lambda v: json.dumps(v, separators=(",", ":"))
    env.globals["rag"] = panels.rag
    env.globals["num"] = panels.fmt_number
    return env


def _render(name: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates().get_template(name).render(**context))


@functools.lru_cache(maxsize=1)
def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@router.get("/")
async def shell(request: Request) -> Response:
    """The dashboard's shell: layout, panel placeholders and the script (no store data)."""
    state = app_state(request)
    return _render("index.html", panels=list(panels.PANELS), guarded=state.settings.read_requires_token)


@router.get("/static/{name}")
async def static(name: Annotated[str, PathParam(pattern=r"^[a-z.]+$", max_length=40)]) -> Response:
    """The dashboard's assets (an allow-list; plotly.js from the installed plotly package)."""
    if name == "plotly.min.js":
        return FileResponse(_plotly_js(), media_type="application/javascript")
    if name not in _STATIC:
        raise ApiError(404, "not_found", f"no static file {name!r}")
    body = files("quant_engine.web").joinpath("static", name).read_bytes()
    return Response(body, media_type=_STATIC[name], headers={"Cache-Control": "no-cache"})


@router.get("/ui/panels/{name}")
async def panel(request: Request, name: PanelName) -> Response:
    """One panel as an HTML fragment."""
    build = panels.PANELS.get(name)
    if build is None:
        raise ApiError(404, "not_found", f"no panel {name!r}; panels: {', '.join(panels.PANELS)}")
    context = await run_sync(build, app_state(request))
    return _render(f"panels/{name}.html", **context)


@router.get("/ui/strategies/{key}")
async def strategy(request: Request, key: HashArg) -> Response:
    """A strategy's page as an HTML fragment (hash or a unique prefix)."""
    context = await run_sync(panels.strategy_page, app_state(request), key)
    return _render("strategy.html", **context)
