"""A fake OpenAI-compatible LLM server: ``POST /v1/chat/completions`` (also streamed as
server-sent ``chat.completion.chunk`` events) and ``GET /v1/models`` in OpenAI's wire format,
answering with seeded strategy documents (:mod:`quant_engine.sandbox.llm_strategies`) and, on
command, with faults (:mod:`quant_engine.sandbox.llm_faults`).

Like the real servers it checks ``Authorization: Bearer`` when it has a key (401
``invalid_api_key``), refuses an unknown model (404 ``model_not_found``), requires the word
"json" in the messages for JSON mode, and can refuse ``json_schema`` response formats as DeepSeek
does (``json_schema=False``). Token usage is counted as one token per 4 characters. Control
endpoints: ``GET|POST /_sandbox/faults`` and ``GET /_sandbox/stats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from quant_engine.sandbox.llm_faults import LLMFaultPlan
from quant_engine.sandbox.llm_strategies import StrategyWriter, post_mortem_note
from quant_engine.sandbox.server import BackgroundServer

__all__ = ["FakeLLM", "DEFAULT_MODEL"]

DEFAULT_MODEL = "sandbox-strategist"
"""The model the fake serves unless told otherwise."""

_ROLES = ("system", "developer", "user", "assistant", "tool")


def _error(status: int, message: str, kind: str, code: str | None = None, param: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status_code=status)


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _content(message: Any) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


class FakeLLM(BackgroundServer):
    """The fake LLM server (see the module doc).

    Args:
        host / port: the bind address (port 0: any free one, known once started).
        seed: seeds the strategies written.
        model: the one model served.
        api_key: the accepted bearer key (None: no check).
        json_schema: accept ``response_format`` ``json_schema`` (False: 400, as DeepSeek).
        faults: the fault plan (default none).
        obedience: how often a banned operator is avoided.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        model: str = DEFAULT_MODEL,
        api_key: str | None = None,
        json_schema: bool = True,
        faults: LLMFaultPlan | None = None,
        obedience: float = 0.9,
    ) -> None:
        super().__init__()
        self.host, self.port, self.model = host, port, model
        self.json_schema = json_schema
        self.faults = faults or LLMFaultPlan(seed=seed)
        self.writer = StrategyWriter(seed, obedience)
        self.stats: dict[str, int] = {}
        self.prompts: list[str] = []
        self._key = api_key

    def __repr__(self) -> str:
        return f"FakeLLM({self.base_url!r}, model={self.model!r})"

    @property
    def base_url(self) -> str:
        """The OpenAI-style API root, ``http://host:port/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    def _count(self, name: str) -> None:
        self.stats[name] = self.stats.get(name, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """Counters and injected faults."""
        return {**self.stats, "faults": dict(self.faults.injected)}

    def app(self) -> Starlette:
        """The HTTP application."""
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/models/{model:path}", self._model, methods=["GET"]),
                Route("/_sandbox/faults", self._faults, methods=["GET", "POST"]),
                Route("/_sandbox/stats", self._stats, methods=["GET"]),
            ]
        )

    async def serve(self, started: asyncio.Event) -> None:
        """Runs the HTTP server until cancelled."""
        import uvicorn

        server = uvicorn.Server(
            uvicorn.Config(
                self.app(), host=self.host, port=self.port, log_level="warning", lifespan="off", access_log=False
            )
        )
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the server stopped during start-up")
            await asyncio.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5.0)

    def _unauthorized(self, request: Request) -> Response | None:
        if self._key is None:
            return None
        if request.headers.get("authorization", "") == f"Bearer {self._key}":
            return None
        self._count("unauthorized")
        return _error(
            401, "Incorrect API key provided. You can find your API key in the sandbox settings.",
            "invalid_request_error", "invalid_api_key",
        )  # fmt: skip

    async def _models(self, request: Request) -> Response:
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        return JSONResponse({"object": "list", "data": [self._model_object()]})

    async def _model(self, request: Request) -> Response:
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        if request.path_params["model"] != self.model:
            return self._no_model(request.path_params["model"])
        return JSONResponse(self._model_object())

    def _model_object(self) -> dict[str, Any]:
        return {"id": self.model, "object": "model", "created": 1_700_000_000, "owned_by": "quant-engine-sandbox"}

    def _no_model(self, name: str) -> Response:
        return _error(
            404, f"The model `{name}` does not exist or you do not have access to it.",
            "invalid_request_error", "model_not_found",
        )  # fmt: skip

    async def _faults(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.faults.update(await request.json())
            except Exception as exc:  # noqa: BLE001 - reported to the caller
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.faults.as_dict())

    async def _stats(self, request: Request) -> Response:
        return JSONResponse(self.snapshot())

    def _check(self, body: Any) -> Response | None:
        """A 400/404 for a request the real API refuses, else None."""
        if not isinstance(body, dict):
            return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        if not isinstance(body.get("model"), str):
            return _error(400, "you must provide a model parameter", "invalid_request_error", param="model")
        if body["model"] != self.model:
            return self._no_model(body["model"])
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return _error(400, "'messages' must be a non-empty array", "invalid_request_error", param="messages")
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in _ROLES:
                return _error(400, f"Invalid message at messages[{i}]", "invalid_request_error", param=f"messages[{i}]")
        cap = body.get("max_completion_tokens", body.get("max_tokens"))
        if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
            return _error(400, "max_tokens must be a positive integer", "invalid_request_error", param="max_tokens")
        fmt = body.get("response_format") or {"type": "text"}
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind == "json_schema":
            if not self.json_schema:
                return _error(400, "This response_format type is unavailable now", "invalid_request_error")
            spec = fmt.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                return _error(
                    400, "Missing required parameter: 'response_format.json_schema.name'.",
                    "invalid_request_error", "missing_required_parameter", "response_format.json_schema.name",
                )  # fmt: skip
        elif kind == "json_object":
            if not any("json" in _content(m).lower() for m in msgs):
                return _error(
                    400, "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                    "'json_object'.", "invalid_request_error", param="messages",
                )  # fmt: skip
        elif kind != "text":
            return _error(400, f"Invalid value for 'response_format.type': {kind!r}", "invalid_request_error")
        return None

    async def _completions(self, request: Request) -> Response:
        self._count("requests")
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        try:
            body = await request.json()
        except ValueError:
            body = None
        bad = self._check(body)
        if bad is not None:
            self._count("bad_requests")
            return bad
        prompt = "\n".join(_content(m) for m in body["messages"])
        self.prompts.append(prompt)
        fault = self.faults.next()
        if fault == "429":
            self._count("rate_limited")
            ra = self.faults.retry_after
            headers = {"retry-after": f"{ra:g}", "retry-after-ms": str(int(ra * 1000))}
            resp = _error(
                429, "Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded"
            )
            resp.headers.update(headers)
            return resp
        if fault == "500":
            self._count("server_errors")
            return _error(
                500, "The server had an error while processing your request. Sorry about that!", "server_error"
            )
        if fault == "timeout":
            self._count("slow")
            await asyncio.sleep(self.faults.slow_seconds)
        text, finish = self._answer(fault, prompt, body)
        fmt = (body.get("response_format") or {}).get("type", "text")
        prompt_tokens = _tokens(prompt) + (
            _tokens(json.dumps(body["response_format"]["json_schema"].get("schema", {}))) if fmt == "json_schema" else 0
        )
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": _tokens(text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        self._count("completions")
        head = {"id": f"chatcmpl-{secrets.token_hex(12)}", "created": int(time.time()), "model": self.model}
        if body.get("stream"):
            opts = body.get("stream_options")
            include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
            return StreamingResponse(
                self._chunks(head, text, finish, usage if include_usage else None),
                media_type="text/event-stream",
            )
        return JSONResponse(
            {
                **head,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                ],
                "usage": usage,
                "system_fingerprint": "fp_sandbox",
            }
        )

    def _answer(self, fault: str, prompt: str, body: dict[str, Any]) -> tuple[str, str]:
        """The content and finish reason for ``fault``."""
        w = self.writer
        if fault == "malformed":
            return w.malformed(prompt), "stop"
        if "POST-MORTEM" in prompt:  # the Gatekeeper's post-mortem template
            note = post_mortem_note(w.rng, prompt)
            text = json.dumps({"story": note["narrative"]} if fault == "invalid" else note)
        else:
            text = json.dumps(w.invalid(prompt) if fault == "invalid" else w.valid(prompt))
        cap = body.get("max_completion_tokens", body.get("max_tokens"))
        if fault == "truncated":
            return text[: max(len(text) * 3 // 5, 1)], "length"
        if cap is not None and _tokens(text) > cap:  # a real cut at the token cap
            return text[: cap * 4], "length"
        fmt = (body.get("response_format") or {}).get("type", "text")
        if fmt == "text" and w.rng.random() < 0.25:  # without a JSON mode a model likes code fences
            text = f"```json\n{text}\n```"
        return text, "stop"

    async def _chunks(
        self, head: dict[str, Any], text: str, finish: str, usage: dict[str, int] | None
    ) -> AsyncIterator[bytes]:
        def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            chunk = {**head, "object": "chat.completion.chunk", "system_fingerprint": "fp_sandbox", "choices": choices}
            return f"data: {json.dumps({**chunk, **extra})}\n\n".encode()

        yield event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for i in range(0, len(text), 48):
            yield event([{"index": 0, "delta": {"content": text[i : i + 48]}, "finish_reason": None}])
        yield event([{"index": 0, "delta": {}, "finish_reason": finish}])
        if usage is not None:
            yield event([], usage=usage)
        yield b"data: [DONE]\n\n"
