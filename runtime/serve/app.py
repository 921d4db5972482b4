"""The ASGI app of `edgereason serve` (Starlette): OpenAI-compatible routes over one Engine.

    GET  /health               liveness and queue depth (no key needed)
    GET  /metrics              Prometheus text
    GET  /v1/models            the one model this process serves
    POST /v1/chat/completions  chat; with "edgereason": {"solve": true} a reasoning answer and its decision
    POST /v1/completions       plain text completion

Errors are OpenAI-shaped JSON ({"error": {...}}) with the status OpenAI uses.
"""

import asyncio
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from edgereason.errors import UsageError
from edgereason.runtime.arith import Calculator
from edgereason.runtime.reason import ExitConfig
from edgereason.runtime.sampling import SamplingConfig

from . import responses
from .engine import Cancelled, Choice, Engine, Generation, Piece, Slot, run_choices
from .protocol import ApiError, ChatRequest, CompletionRequest, context_error, parse
from .solving import SolveJob, solve_extension

log = logging.getLogger("edgereason.serve")
DONE = object()  # the end of a job's event stream


@dataclass
class Server:
    """What the routes share: the engine, the served model's id, the API key (None: open), the slow path."""

    engine: Engine
    model_id: str
    api_key: str | None = None
    slow: Any = None  # runtime.escalate.SlowPath, for solve requests whose decision is "escalate"
    spec: Any = None  # runtime.spec.SolveSpec (`serve --spec`); None: the artifact's spec per request strategy
    created: int = 0

    @property
    def metrics(self):
        return self.engine.metrics


def create_app(server: Server) -> Starlette:
    def route(path: str, endpoint: Callable, methods: list[str], *, auth: bool = True) -> Route:
        async def handler(request: Request) -> Response:
            try:
                if auth:
                    _check_key(server, request)
                response = await endpoint(server, request)
            except ApiError as e:
                response = JSONResponse(e.body(), status_code=e.status, headers=e.headers)
            except UsageError as e:  # a request the runtime refuses (context, settings): the client's to fix
                response = JSONResponse(ApiError(400, str(e)).body(), status_code=400)
            server.metrics.request(path, response.status_code)
            return response

        return Route(path, handler, methods=methods)

    routes = [
        route("/health", _health, ["GET"], auth=False),
        route("/metrics", _metrics, ["GET"]),
        route("/v1/models", _models, ["GET"]),
        route("/v1/models/{model_id:path}", _model, ["GET"]),
        route("/v1/chat/completions", _chat, ["POST"]),
        route("/v1/completions", _completions, ["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error, Exception: _internal_error})


async def _http_error(request: Request, exc: HTTPException) -> Response:
    message = {404: f"no route {request.url.path}: this server serves /v1/models, /v1/chat/completions, "
                    "/v1/completions, /health and /metrics",
               405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
    return JSONResponse(ApiError(exc.status_code, message).body(), status_code=exc.status_code)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("internal error on %s", request.url.path)
    body = ApiError(500, f"internal error: {type(exc).__name__}: {exc}", kind="server_error").body()
    return JSONResponse(body, status_code=500)


def _check_key(server: Server, request: Request) -> None:
    if server.api_key is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), server.api_key.encode()):
        raise ApiError(401, "Incorrect API key provided: send Authorization: Bearer <the key given to "
                            "`edgereason serve --api-key`>", code="invalid_api_key")


async def _health(server: Server, request: Request) -> Response:
    return JSONResponse({"status": "ok", "model": server.model_id, "queue_depth": server.engine.queue_depth,
                         "running": server.engine.running})


async def _metrics(server: Server, request: Request) -> Response:
    return PlainTextResponse(server.metrics.render(server.engine.running),
                             media_type="text/plain; version=0.0.4; charset=utf-8")


def _model_card(server: Server) -> dict[str, Any]:
    return {"id": server.model_id, "object": "model", "created": server.created, "owned_by": "edgereason"}


async def _models(server: Server, request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [_model_card(server)]})


async def _model(server: Server, request: Request) -> Response:
    if request.path_params["model_id"] != server.model_id:
        raise _unknown_model(server, request.path_params["model_id"])
    return JSONResponse(_model_card(server))


def _unknown_model(server: Server, name: str) -> ApiError:
    return ApiError(404, f"The model '{name}' does not exist: this server serves '{server.model_id}' "
                         "(GET /v1/models)", param="model", code="model_not_found")


def _check_model(server: Server, name: str | None) -> None:
    if name is not None and name != server.model_id:
        raise _unknown_model(server, name)


def _generations(server: Server, request: ChatRequest | CompletionRequest, prompt_ids: list[int],
                 what: str) -> list[Generation]:
    """The request's n choices for one prompt, its budget checked against the context (400 naming both)."""
    info = server.engine.model.backend.info
    budget = request.budget()
    error = context_error(info.max_seq_len, len(prompt_ids), budget, what)
    if error is not None:
        raise error
    if max(prompt_ids) >= info.vocab_size:
        raise ApiError(400, f"prompt: token id {max(prompt_ids)} is outside the vocabulary of {info.vocab_size}",
                       param="prompt")
    ext = request.edgereason
    seed = request.seed if request.seed is not None else secrets.randbits(64)
    abort = ext.abort_threshold if ext.abort_threshold is not None else ExitConfig().abort_threshold
    return [Generation(prompt_ids=prompt_ids, max_tokens=budget or info.max_seq_len - len(prompt_ids),
                       sampling=SamplingConfig(temperature=request.temperature, top_k=ext.top_k, top_p=request.top_p,
                                               seed=(seed + i) % (1 << 64)),
                       stops=request.stops(), logprobs=request.num_logprobs(),
                       abort_threshold=abort if ext.abort else None,
                       calculator=Calculator(ext.calculator or Calculator.OFF.value))
            for i in range(request.n)]


def _chat_prompt(server: Server, request: ChatRequest) -> list[int]:
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()}
                for m in request.messages]
    return server.engine.model.text.prompt_ids(messages)


async def _chat(server: Server, request: Request) -> Response:
    req: ChatRequest = parse(await request.body(), ChatRequest)
    _check_model(server, req.model)
    rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if req.edgereason.solve:
        return await _solve(server, request, req, rid, created)
    prompt = _chat_prompt(server, req)
    generations = _generations(server, req, prompt, "messages")
    slot = server.engine.admit()
    logprobs = req.num_logprobs() is not None
    if req.stream:
        def chunks(event: Piece | list[Choice]) -> list[dict[str, Any]]:
            if isinstance(event, Piece):
                return [responses.chat_chunk(rid, created, server.model_id, event.index, {"content": event.text},
                                             logprobs=event.logprobs if logprobs else None)]
            done = [responses.chat_chunk(rid, created, server.model_id, c.index, {}, finish_reason=c.finish_reason,
                                         extension={"choices": [responses.choice_extension(c)]}) for c in event]
            if req.stream_options and req.stream_options.include_usage:
                done.append(responses.usage_chunk(rid, created, server.model_id, "chat.completion.chunk",
                                                  len(prompt), sum(c.completion_tokens for c in event)))
            return done

        opening = [responses.chat_chunk(rid, created, server.model_id, i, {"role": "assistant", "content": ""})
                   for i in range(req.n)]
        return _stream(server, slot, generations, len(prompt), chunks, opening)
    choices = await _wait(server, request, slot, generations, len(prompt))
    return JSONResponse(responses.chat(rid, created, server.model_id, choices, len(prompt), logprobs=logprobs))


async def _completions(server: Server, request: Request) -> Response:
    req: CompletionRequest = parse(await request.body(), CompletionRequest)
    _check_model(server, req.model)
    if req.edgereason.solve:
        raise ApiError(400, "edgereason.solve: a solve is a chat request (POST /v1/chat/completions)",
                       param="edgereason.solve")
    rid, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
    text = server.engine.model.text
    prompts = [p if isinstance(p, list) else text.encode(p) for p in req.prompts()]
    if any(not p for p in prompts):
        raise ApiError(400, "prompt: a prompt is empty", param="prompt")
    generations = [g for p in prompts for g in _generations(server, req, p, "prompt")]
    prompt_tokens = sum(len(p) for p in prompts)
    slot = server.engine.admit()
    logprobs = req.num_logprobs() is not None
    if req.stream:
        offsets: dict[int, int] = {}

        def chunks(event: Piece | list[Choice]) -> list[dict[str, Any]]:
            if isinstance(event, Piece):
                at = offsets.get(event.index, 0)
                offsets[event.index] = at + sum(len(e.token) for e in event.logprobs)
                return [responses.completion_chunk(rid, created, server.model_id, event.index, event.text,
                                                   logprobs=event.logprobs if logprobs else None, offset=at)]
            done = [responses.completion_chunk(rid, created, server.model_id, c.index, "",
                                               finish_reason=c.finish_reason,
                                               extension={"choices": [responses.choice_extension(c)]})
                    for c in event]
            if req.stream_options and req.stream_options.include_usage:
                done.append(responses.usage_chunk(rid, created, server.model_id, "text_completion", prompt_tokens,
                                                  sum(c.completion_tokens for c in event)))
            return done

        return _stream(server, slot, generations, prompt_tokens, chunks, [])
    choices = await _wait(server, request, slot, generations, prompt_tokens)
    return JSONResponse(responses.completion(rid, created, server.model_id, choices, prompt_tokens,
                                             logprobs=logprobs))


def _record(server: Server, choices: list[Choice], prompt_tokens: int) -> None:
    for c in choices:
        server.metrics.generated(prompt_tokens if c.index == 0 else 0, c.completion_tokens, c.ttft_ms / 1e3,
                                 c.decode_tps)


async def _wait(server: Server, request: Request, slot: Slot, generations: list[Generation],
                prompt_tokens: int) -> list[Choice]:
    choices = await _finished(request, slot, server.engine.submit(slot, _choices_job(server), generations, None))
    _record(server, choices, prompt_tokens)
    return choices


async def _finished(request: Request, slot: Slot, job) -> Any:
    """The job's result; a client that disconnects while it waits abandons it (queued: it never runs; running:
    a generation stops at its next token)."""
    future = asyncio.wrap_future(job)
    try:
        while True:
            done, _ = await asyncio.wait({future}, timeout=0.25)
            if done:
                return future.result()
            if await request.is_disconnected():
                slot.abandon()
                raise ApiError(499, "the client closed the connection")
    except Cancelled:
        raise ApiError(499, "the client closed the connection") from None
    finally:
        slot.abandon()


def _choices_job(server: Server) -> Callable[..., list[Choice]]:
    model = server.engine.model

    def job(generations: list[Generation], emit, *, cancel) -> list[Choice]:
        return run_choices(model, generations, emit, cancel=cancel)

    return job


class _JobStream(StreamingResponse):
    """A stream whose job is abandoned the moment the response ends, however it ends (done, client gone)."""

    def __init__(self, content: AsyncIterator[str], slot: Slot) -> None:
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.slot = slot

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.abandon()


def _sse(data: dict[str, Any] | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


def _stream(server: Server, slot: Slot, generations: list[Generation], prompt_tokens: int,
            chunks: Callable[[Any], list[dict[str, Any]]], opening: list[dict[str, Any]]) -> Response:
    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()

    def emit(event: Any) -> None:
        loop.call_soon_threadsafe(events.put_nowait, event)

    def finished(future) -> None:
        emit(future)

    future = server.engine.submit(slot, _choices_job(server), generations, emit)
    future.add_done_callback(finished)

    async def body() -> AsyncIterator[str]:
        for chunk in opening:
            yield _sse(chunk)
        while True:
            event = await events.get()
            if isinstance(event, Piece):
                for chunk in chunks(event):
                    yield _sse(chunk)
                continue
            try:
                choices = event.result()
            except Cancelled:
                return
            except Exception as e:  # the stream has begun: the error goes in it, as OpenAI's does
                log.exception("generation failed")
                yield _sse(ApiError(500, f"internal error: {type(e).__name__}: {e}", kind="server_error").body())
                return
            _record(server, choices, prompt_tokens)
            for chunk in chunks(choices):
                yield _sse(chunk)
            yield _sse("[DONE]")
            return

    return _JobStream(body(), slot)


async def _solve(server: Server, request: Request, req: ChatRequest, rid: str, created: int) -> Response:
    """A reasoning question: the model's answer and its calibrated decision; escalated ones go to the slow path."""
    users = [m for m in req.messages if m.role == "user"]
    if len(req.messages) != 1 or len(users) != 1:
        raise ApiError(400, "messages: a solve takes exactly one user message, the question (the artifact's "
                            "calibrated prompt supplies the system prompt and few-shot turns)", param="messages")
    if req.n != 1 or req.num_logprobs() is not None or req.stop:
        raise ApiError(400, "a solve request takes no n, logprobs or stop: its traces are the strategy's",
                       param="n" if req.n != 1 else "logprobs" if req.num_logprobs() is not None else "stop")
    job = SolveJob.build(server.engine.model, users[0].text(), req, server.spec)
    slot = server.engine.admit()
    fast = await _finished(request, slot, server.engine.submit(slot, job.run))
    extension, content, completion_tokens = await solve_extension(server, job, fast)
    server.metrics.generated(job.prompt_tokens, fast.tokens_generated, 0.0, None)
    finish = "stop"
    choice = Choice(index=0, text=content, finish_reason=finish, finish="solve",
                    completion_tokens=completion_tokens, logprobs=[], confidence=fast.features, ttft_ms=0.0,
                    decode_tps=None)
    body = responses.chat(rid, created, server.model_id, [choice], job.prompt_tokens, logprobs=False,
                          extension={"solve": extension})
    if not req.stream:
        return JSONResponse(body)

    async def one_shot() -> AsyncIterator[str]:
        yield _sse(responses.chat_chunk(rid, created, server.model_id, 0, {"role": "assistant", "content": content}))
        yield _sse(responses.chat_chunk(rid, created, server.model_id, 0, {}, finish_reason=finish,
                                        extension=body["edgereason"]))
        if req.stream_options and req.stream_options.include_usage:
            yield _sse(responses.usage_chunk(rid, created, server.model_id, "chat.completion.chunk",
                                             job.prompt_tokens, completion_tokens))
        yield _sse("[DONE]")

    return StreamingResponse(one_shot(), media_type="text/event-stream")
