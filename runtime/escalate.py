"""The slow path: an "escalate" decision sends the question to an OpenAI-compatible server.

Any server that speaks `POST /v1/chat/completions` will do: llama.cpp's llama-server, llama-cpp-python's
server, vLLM, Ollama, or another `edgereason serve` (a bigger artifact, or a cluster behind one URL: no
distributed code of ours). The slow path gets the fast path's own prompt (system prompt, few-shot turns,
question) and its answer is read with the same extraction rules, so the two answers compare.

A slow path that is down, refuses, times out or answers garbage is a value (`SlowPathError`'s reason), not a
crash: the fast answer is kept and the decision says why. Nothing is retried: a failure is reported, not hidden
behind a second wait.
"""

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from edgereason.errors import EdgeReasonError, SettingError

from .answers import MAX_CHOICES, AnswerKind, extract
from .backends.base import Backend
from .reason import SolveConfig, SolveResult, solve
from .spec import SolveSpec, default_spec
from .text import Text

DEFAULT_TIMEOUT_S = 60.0
ERROR_CHARS = 200  # of a server's error message, in the one-line reason
MAX_REPLY_BYTES = 8 << 20  # a chat completion is kilobytes; more is not a reply to read


class SlowPathError(EdgeReasonError):
    """The slow path gave no usable answer; `str()` is the one-line reason."""


@dataclass(frozen=True)
class SlowPath:
    """Attributes:
    url: the server's base URL (`http://host:port` or `.../v1`).
    model: the model to ask for; None: the server's first (`GET /v1/models`), or "default" if it lists none.
    timeout: seconds for the whole exchange (model listing, connect, request, reply): a server that accepts and
        never answers fails at `timeout`; one that trickles bytes fails at the first chunk past it.
    api_key: sent as `Authorization: Bearer`; the CLI reads it from EDGEREASON_ESCALATE_API_KEY, never argv.
    max_tokens: the slow path's budget (default: the fast path's default; the CLI passes `--max-new-tokens`).
    """

    url: str
    model: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    api_key: str | None = None
    max_tokens: int = SolveConfig.max_new_tokens

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingError(f"{{0}} must be an http:// or https:// URL with a host, got {self.url!r}", "url")
        try:
            parts.port  # noqa: B018  (urlsplit checks the port only when asked)
        except ValueError:
            raise SettingError(f"{{0}} has a bad port: {self.url!r}", "url") from None
        if parts.query or parts.fragment:
            raise SettingError(f"{{0}} must be a base URL (e.g. http://host:8080/v1), without ?query or #fragment: "
                               f"got {self.url!r}", "url")
        if not (math.isfinite(self.timeout) and self.timeout > 0):
            raise SettingError(f"{{0}} must be a positive number of seconds, got {self.timeout}", "timeout")
        if self.max_tokens < 1:
            raise SettingError(f"{{0}} must be >= 1, got {self.max_tokens}", "max_tokens")
        if self.model is not None and not self.model.strip():
            raise SettingError("{0} is empty: name a model, or leave it out to use the server's first", "model")

    @property
    def base(self) -> str:
        """The URL up to and including /v1."""
        url = self.url.rstrip("/")
        return url if url.endswith("/v1") else url + "/v1"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def resolved(self) -> "SlowPath":
        """This slow path with its model named (listed once, e.g. before a benchmark asks it hundreds of times);
        unchanged when the server can't be asked now (each `ask` then tries again)."""
        if self.model is not None:
            return self
        import httpx2

        clock = _Deadline(self.timeout, self.base + "/models")
        try:
            with httpx2.Client(headers=self.headers()) as http:
                model = _first_model(http, self, clock)
        except (httpx2.HTTPError, SlowPathError):
            return self
        return replace(self, model=model) if model else self


@dataclass(frozen=True)
class SlowAnswer:
    """What the slow path said: its extracted answer, its whole reply, and what it cost (tokens: the server's
    `usage`, None where it reports none)."""

    answer: str | None
    text: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    seconds: float


class _Deadline:
    """One clock for the whole exchange: each request gets what is left of `timeout`."""

    def __init__(self, timeout: float, url: str) -> None:
        self.timeout, self.url = timeout, url
        self.end = time.perf_counter() + timeout

    def left(self) -> float:
        left = self.end - time.perf_counter()
        if left <= 0:
            raise self.late()
        return left

    def late(self) -> SlowPathError:
        return SlowPathError(f"no reply within {self.timeout:g} s from {self.url}")


def ask(slow: SlowPath, messages: Sequence[dict[str, str]], *, kind: AnswerKind, num_choices: int) -> SlowAnswer:
    """The slow path's answer to the fast path's prompt (`messages`), greedy, read with the fast path's rules.

    Raises:
        SlowPathError: down, refusing (HTTP error), no reply within the timeout, a malformed reply, or no answer.
    """
    import httpx2

    start = time.perf_counter()
    url = slow.base + "/chat/completions"
    clock = _Deadline(slow.timeout, url)
    try:
        with httpx2.Client(headers=slow.headers()) as http:
            model = slow.model or _first_model(http, slow, clock) or "default"
            status, body = _exchange(http, "POST", url, clock, json={
                "model": model, "messages": list(messages), "temperature": 0, "max_tokens": slow.max_tokens,
                "stream": False})
    except httpx2.TimeoutException:
        raise clock.late() from None
    except httpx2.ConnectError as e:
        raise SlowPathError(_connect_reason(url, e)) from None
    except httpx2.HTTPError as e:
        raise SlowPathError(f"HTTP failure talking to {url}: {_short(str(e)) or type(e).__name__}") from None
    if status != 200:
        raise SlowPathError(f"HTTP {status} from {url}: {_short(_server_message(body)) or 'no message'}")
    reply = _parse(body)
    text, usage = _content(reply)
    answer = extract(text, kind, num_choices=num_choices or MAX_CHOICES)
    if answer is None:
        raise SlowPathError(f"no answer in its reply ({_short(text) or 'empty'})")
    named = reply.get("model")
    return SlowAnswer(answer, text, named if isinstance(named, str) and named else model,
                      usage.get("prompt_tokens"), usage.get("completion_tokens"), time.perf_counter() - start)


def _exchange(http: Any, method: str, url: str, clock: _Deadline, **kwargs: Any) -> tuple[int, bytes]:
    """Status and body of one request, within what is left of the deadline and MAX_REPLY_BYTES."""
    import httpx2

    with http.stream(method, url, timeout=httpx2.Timeout(clock.left()), **kwargs) as reply:
        chunks, size = [], 0
        for chunk in reply.iter_bytes():
            size += len(chunk)
            if size > MAX_REPLY_BYTES:
                raise SlowPathError(f"malformed reply: over {MAX_REPLY_BYTES >> 20} MiB")
            chunks.append(chunk)
            clock.left()
        return reply.status_code, b"".join(chunks)


def _first_model(http: Any, slow: SlowPath, clock: _Deadline) -> str | None:
    """The first model the server lists; None when it lists none or can't list (llama-server and Ollama ignore
    the name anyway). A server that is down or silent fails here, as the chat request would."""
    status, body = _exchange(http, "GET", slow.base + "/models", clock)
    if status != 200:
        return None
    try:
        data = json.loads(body).get("data") or []
        return str(data[0]["id"]) if data else None
    except (ValueError, AttributeError, KeyError, IndexError, TypeError):
        return None


def _connect_reason(url: str, error: Exception) -> str:
    detail = str(error)
    if "refused" in detail.lower():
        return f"connection refused at {url}"
    return f"cannot connect to {url} ({_short(detail) or type(error).__name__})"


def _parse(body: bytes) -> dict[str, Any]:
    try:
        reply = json.loads(body)
    except ValueError:  # UnicodeDecodeError included
        raise SlowPathError("malformed reply: not JSON") from None
    if not isinstance(reply, dict):
        raise SlowPathError("malformed reply: not a JSON object")
    return reply


def _content(reply: dict[str, Any]) -> tuple[str, dict[str, int]]:
    try:
        text = reply["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise SlowPathError("malformed reply: no choices[0].message.content") from None
    if not isinstance(text, str):
        raise SlowPathError("malformed reply: the message content is not text")
    usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
    return text, {k: v for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool) and v >= 0}


def _server_message(body: bytes) -> str:
    """The server's own words: OpenAI/vLLM `{"error": {"message"}}`, Ollama `{"error": "..."}`, `{"detail"}`,
    `{"message"}`, or the body as text."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")
    if not isinstance(data, dict):
        return str(data)
    error = data.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return str(error or data.get("detail") or data.get("message") or data)


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= ERROR_CHARS else line[: ERROR_CHARS - 1] + "…"


@dataclass
class CascadeResult:
    """A solve and, if it escalated, what the slow path did.

    Attributes:
        fast: the fast path's result (its decision is the calibrator's: accept | escalate).
        slow: the slow path's answer, when it was asked and answered.
        slow_error: why the slow path gave nothing, when it was asked and failed.
    """

    fast: SolveResult
    slow: SlowAnswer | None = None
    slow_error: str | None = None

    @property
    def escalated(self) -> bool:
        """The fast path's decision was escalate (routed before decoding included)."""
        return self.fast.decision == "escalate"

    @property
    def path(self) -> str:
        """"fast" or "slow": whose answer `answer` is."""
        return "slow" if self.slow is not None else "fast"

    @property
    def answer(self) -> str | None:
        return self.slow.answer if self.slow is not None else self.fast.answer

    @property
    def failed(self) -> bool:
        """Escalation was needed and tried, and the slow path gave nothing: the CLI's exit code 3."""
        return self.slow_error is not None

    @property
    def decision(self) -> str:
        """"accept" (fast), "escalated" (the slow path answered), "escalate" (no slow path configured), or
        "escalate (slow path unavailable: REASON)" (the fast answer is kept)."""
        if not self.escalated:
            return "accept"
        if self.slow is not None:
            return "escalated"
        return f"escalate (slow path unavailable: {self.slow_error})" if self.slow_error else "escalate"

    def to_json(self) -> dict[str, Any]:
        slow = None if self.slow is None else {
            "answer": self.slow.answer, "model": self.slow.model, "prompt_tokens": self.slow.prompt_tokens,
            "completion_tokens": self.slow.completion_tokens, "seconds": self.slow.seconds}
        return {"answer": self.answer, "path": self.path, "decision": self.decision, "fast_answer": self.fast.answer,
                "slow": slow, "slow_error": self.slow_error}


def escalate(slow: SlowPath | None, fast: SolveResult, messages: Sequence[dict[str, str]], *, kind: AnswerKind,
             num_choices: int) -> CascadeResult:
    """Ask the slow path when the fast path's decision is "escalate" (routed before decoding included).

    For a caller that has solved already (the server solves on its model thread and asks the slow path off it);
    `messages` must be the prompt the fast path was given (`SolveSpec.messages` with the same arguments).
    """
    if fast.decision != "escalate" or slow is None:
        return CascadeResult(fast)
    try:
        return CascadeResult(fast, slow=ask(slow, messages, kind=kind, num_choices=num_choices))
    except SlowPathError as e:
        return CascadeResult(fast, slow_error=str(e))


def solve_with_escalation(backend: Backend, text: Text, question: str, *, slow: SlowPath | None,
                          spec: SolveSpec | None = None, kind: AnswerKind = AnswerKind.MATH,
                          choices: Sequence[str] = (), parallel: int | None = None) -> CascadeResult:
    """`reason.solve` as `spec` says (vote traces `parallel` at once), then the slow path when its decision is
    escalate, with the same prompt: the cascade.

    Raises:
        ContextOverflowError, SettingError: as `reason.solve` (a slow path's failure is a value, never raised).
    """
    spec = spec or default_spec()
    fast = solve(backend, text, question, spec=spec, kind=kind, choices=choices, parallel=parallel)
    return escalate(slow, fast, spec.messages(question, kind=kind, choices=choices), kind=kind,
                    num_choices=len(choices))
