"""The OpenAI wire format this server speaks: request models (strict, as OpenAI's API is) and error bodies.

Unknown top-level fields are refused with OpenAI's own message; fields OpenAI defines but this server does not
implement are accepted at their neutral value only (a client that sends `frequency_penalty: 0` works, one that
asks for a penalty is told it is unsupported rather than silently ignored). edgereason's own switches travel
under one `edgereason` key.
"""

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgereason.runtime.answers import MAX_CHOICES

MAX_N = 8  # choices per request: they run one after the other on one device
MAX_STOP = 4  # OpenAI's limit
MAX_TOP_LOGPROBS = 20  # chat; completions allow 5
MAX_COMPLETION_LOGPROBS = 5


class ApiError(Exception):
    """An error the client gets as OpenAI-shaped JSON: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, *, param: str | None = None, kind: str = "invalid_request_error",
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.kind, self.code = status, message, param, kind, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Extension(_Strict):
    """The `edgereason` key of a request.

    Attributes:
        top_k: sampler top-k (0 = off), which OpenAI's API lacks.
        abort: end a trace once its group confidence (DeepConf, online) drops below `abort_threshold`
            (finish_reason "stop", `edgereason.finish` "early_exit").
        calculator: off | check | compute (runtime/arith.py); plain completions default to off: the model's text.
        solve: answer the (one) user message as a reasoning question with the artifact's calibrated recipe, and
            return the answer, P(correct), decision and reasons (and the slow path's answer when escalated).
        strategy, max_traces, probe, route_before_decode: the solve settings (`edgereason solve`'s).
        choices: a multiple-choice question's options (solve only).
        shots: few-shot examples of a solve instead of the spec's.
        escalate: send an "escalate" decision to the server's slow path (`--escalate-to`), if it has one.
    """

    top_k: Annotated[int, Field(ge=0)] = 0
    abort: bool = False
    abort_threshold: float | None = None
    calculator: Literal["off", "check", "compute"] | None = None
    solve: bool = False
    strategy: Literal["greedy", "early-exit", "vote"] | None = None
    max_traces: Annotated[int, Field(ge=1, le=MAX_N * 4)] | None = None
    probe: bool | None = None
    route_before_decode: bool | None = None
    choices: Annotated[list[str], Field(min_length=2, max_length=MAX_CHOICES)] | None = None
    shots: Literal["gsm8k", "builtin", "arc-easy", "none"] | None = None
    escalate: bool = True

    @model_validator(mode="after")
    def _solve_only(self) -> "Extension":
        solve_fields = ("strategy", "max_traces", "probe", "route_before_decode", "choices", "shots")
        given = [f for f in solve_fields if getattr(self, f) is not None]
        if given and not self.solve:
            raise ValueError(f"{given[0]} is a solve setting: add \"solve\": true")
        return self


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")  # clients send name, refusal, annotations... on echoed turns

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(_Strict):
    include_usage: bool = False


Stop = str | Annotated[list[str], Field(max_length=MAX_STOP)] | None


class _Common(_Strict):
    """Fields both endpoints share. Defaults are OpenAI's (temperature 1, top_p 1, n 1)."""

    model: str | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 1.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    n: Annotated[int, Field(ge=1, le=MAX_N)] = 1
    seed: Annotated[int, Field(ge=0, lt=1 << 64)] | None = None
    stop: Stop = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    edgereason: Extension = Field(default_factory=Extension)
    # Defined by OpenAI, accepted at their neutral value only (`_neutral`).
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None

    def stops(self) -> tuple[str, ...]:
        found = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        if any(not s for s in found):
            raise ApiError(400, "stop: a stop sequence is empty", param="stop")
        return found

    def _neutral(self, **extra: Any) -> None:
        fields = {"frequency_penalty": (None, 0, 0.0), "presence_penalty": (None, 0, 0.0),
                  "logit_bias": (None, {}), **extra}
        for name, neutral in fields.items():
            if getattr(self, name) not in neutral:
                raise ApiError(400, f"{name}: not supported by this server (edgereason serve)", param=name)


class ChatRequest(_Common):
    messages: Annotated[list[Message], Field(min_length=1)]
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    logprobs: bool = False
    top_logprobs: Annotated[int, Field(ge=0, le=MAX_TOP_LOGPROBS)] | None = None
    response_format: dict[str, Any] | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None

    def check(self) -> None:
        self._neutral(response_format=(None, {"type": "text"}), tools=(None, []), tool_choice=(None, "none"))
        if self.top_logprobs and not self.logprobs:
            raise ApiError(400, "top_logprobs: needs logprobs: true", param="top_logprobs")

    def budget(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    def num_logprobs(self) -> int | None:
        """None: no logprobs; else how many alternatives per token."""
        return (self.top_logprobs or 0) if self.logprobs else None


class CompletionRequest(_Common):
    prompt: str | Annotated[list[str], Field(min_length=1)] | Annotated[list[int], Field(min_length=1)] | (
        Annotated[list[Annotated[list[int], Field(min_length=1)]], Field(min_length=1)])
    max_tokens: Annotated[int, Field(ge=1)] | None = 16  # OpenAI's default for this endpoint
    logprobs: Annotated[int, Field(ge=0, le=MAX_COMPLETION_LOGPROBS)] | None = None
    echo: bool = False
    suffix: str | None = None
    best_of: int | None = None

    def check(self) -> None:
        self._neutral(echo=(False,), suffix=(None, ""), best_of=(None, 1))

    def budget(self) -> int | None:
        return self.max_tokens

    def num_logprobs(self) -> int | None:
        return self.logprobs

    def prompts(self) -> list[str | list[int]]:
        """One entry per prompt: text or token ids."""
        if isinstance(self.prompt, str):
            return [self.prompt]
        if all(isinstance(p, int) for p in self.prompt):
            return [list(self.prompt)]
        return list(self.prompt)


def context_error(max_seq_len: int, prompt_tokens: int, budget: int | None, what: str) -> ApiError | None:
    """OpenAI's 400 when the prompt and the asked budget (None: at least one token) exceed the context."""
    asked = prompt_tokens + (budget or 1)
    if asked <= max_seq_len:
        return None
    return ApiError(400, f"This model's maximum context length is {max_seq_len} tokens. However, you requested "
                         f"{asked} tokens ({prompt_tokens} in the {what}, {budget or 1} in the completion). Please "
                         f"reduce the length of the {what} or completion.",
                    param="messages" if what == "messages" else "prompt", code="context_length_exceeded")


def parse(body: bytes, model: type[_Common]) -> Any:
    """Validate a request body; every failure is an ApiError (400) naming the field."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(400, f"the request body is not UTF-8 (byte {e.start}): send UTF-8 JSON") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ApiError(400, f"We could not parse the JSON body of your request ({e.msg} at line {e.lineno} column "
                            f"{e.colno}). The body must be a JSON object.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    try:
        request = model.model_validate(data)
    except ValidationError as e:
        raise _validation_error(e) from None
    request.check()
    return request


_TYPE_TAGS = {"str", "int", "float", "bool", "none", "dict", "list"}


def _validation_error(error: ValidationError) -> ApiError:
    first = error.errors(include_url=False)[0]
    # Union members add their type to the location ("stop.list[str]"): the client named the field, not the type.
    param = ".".join(str(p) for p in first["loc"] if not (isinstance(p, str) and (p in _TYPE_TAGS or "[" in p)))
    if first["type"] == "extra_forbidden":
        return ApiError(400, f"Unrecognized request argument supplied: {param}", param=param)
    if first["type"] == "missing":
        return ApiError(400, f"Missing required parameter: '{param}'.", param=param)
    message = first["msg"].removeprefix("Value error, ")
    return ApiError(400, f"{param}: {message}", param=param)
