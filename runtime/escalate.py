"""The slow path: an "escalate" decision sends the question to an OpenAI-compatible server.

Any server that speaks `POST /v1/chat/completions` will do: llama.cpp's llama-server, llama-cpp-python's
server, vLLM, Ollama, or another `edgereason serve` (a bigger artifact, or a cluster behind one URL: no
distributed code of ours). The slow path gets the fast path's own prompt (system prompt, few-shot turns,
question) and its answer is read with the same extraction rules, so the two answers compare.

A slow path that is down, refuses, times out or answers garbage is a value (`SlowPathError`'s reason), not a
crash: the fast answer is kept and the decision says why.
"""

import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from edgereason.errors import EdgeReasonError, SettingError

from .answers import MAX_CHOICES, AnswerKind, extract
from .reason import SolveResult

DEFAULT_TIMEOUT_S = 60.0
ERROR_CHARS = 200  # of a server's error message, in the one-line reason


class SlowPathError(EdgeReasonError):
    """The slow path gave no usable answer; `str()` is the one-line reason."""


@dataclass(frozen=True)
class SlowPath:
    """Attributes:
    url: the server's base URL (`http://host:port` or `.../v1`).
    model: the model to ask for; None: the server's first (`GET /v1/models`), or "default" if it lists none.
    timeout: seconds for the whole reply (connect and read).
    api_key: sent as `Authorization: Bearer`; the CLI reads it from EDGEREASON_ESCALATE_API_KEY.
    max_tokens: the slow path's budget (the CLI passes the fast path's).
    """

    url: str
    model: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    api_key: str | None = None
    max_tokens: int = 512

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingError(f"{{0}} must be an http:// or https:// URL with a host, got {self.url!r}", "url")
        if not (math.isfinite(self.timeout) and self.timeout > 0):
            raise SettingError(f"{{0}} must be a positive number of seconds, got {self.timeout}", "timeout")
        if self.max_tokens < 1:
            raise SettingError(f"{{0}} must be >= 1, got {self.max_tokens}", "max_tokens")

    @property
    def base(self) -> str:
        """The URL up to and including /v1."""
        url = self.url.rstrip("/")
        return url if url.endswith("/v1") else url + "/v1"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


@dataclass(frozen=True)
class SlowAnswer:
    answer: str | None
    text: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    seconds: float


def ask(slow: SlowPath, messages: list[dict[str, str]], *, kind: AnswerKind, num_choices: int) -> SlowAnswer:
    """The slow path's answer to the fast path's prompt.

    Raises:
        SlowPathError: down, refusing (HTTP error), no reply within the timeout, a malformed reply, or no answer.
    """
    import httpx2

    start = time.perf_counter()
    url = slow.base + "/chat/completions"
    try:
        with httpx2.Client(timeout=slow.timeout, headers=slow.headers()) as http:
            model = slow.model or _first_model(http, slow)
            reply = http.post(url, json={"model": model, "messages": messages, "temperature": 0,
                                         "max_tokens": slow.max_tokens, "stream": False})
    except httpx2.TimeoutException:
        raise SlowPathError(f"no reply within {slow.timeout:g} s from {url}") from None
    except httpx2.ConnectError as e:
        raise SlowPathError(f"cannot connect to {url} ({_short(str(e))})") from None
    except httpx2.HTTPError as e:
        raise SlowPathError(f"HTTP failure talking to {url}: {_short(str(e))}") from None
    if reply.status_code != 200:
        raise SlowPathError(f"HTTP {reply.status_code} from {url}: {_short(_server_message(reply))}")
    text, usage = _content(reply)
    answer = extract(text, kind, num_choices=num_choices or MAX_CHOICES)
    if answer is None:
        raise SlowPathError(f"no answer in its reply ({_short(text) or 'empty'})")
    return SlowAnswer(answer, text, model, usage.get("prompt_tokens"), usage.get("completion_tokens"),
                      time.perf_counter() - start)


def _first_model(http: Any, slow: SlowPath) -> str:
    """The first model the server lists; "default" when it lists none (llama-server and Ollama ignore it)."""
    reply = http.get(slow.base + "/models")
    if reply.status_code != 200:
        return "default"
    try:
        data = reply.json().get("data") or []
        return str(data[0]["id"]) if data else "default"
    except (ValueError, AttributeError, KeyError, IndexError, TypeError):
        return "default"


def _content(reply: Any) -> tuple[str, dict[str, int]]:
    try:
        body = reply.json()
    except ValueError:
        raise SlowPathError("malformed reply: not JSON") from None
    try:
        text = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise SlowPathError("malformed reply: no choices[0].message.content") from None
    if not isinstance(text, str):
        raise SlowPathError("malformed reply: the message content is not text")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    return text, {k: v for k, v in usage.items() if isinstance(v, int)}


def _server_message(reply: Any) -> str:
    try:
        error = reply.json().get("error")
        return str(error.get("message") if isinstance(error, dict) else error or reply.text)
    except (ValueError, AttributeError):
        return reply.text


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= ERROR_CHARS else line[: ERROR_CHARS - 1] + "…"


@dataclass
class Cascade:
    """A solve and, if it escalated, what the slow path did.

    Attributes:
        path: "fast" or "slow": whose answer `answer` is.
        decision: "accept" (fast), "escalated" (the slow path answered), "escalate" (no slow path configured), or
            "escalate (slow path unavailable: REASON)" (the fast answer is kept).
    """

    fast: SolveResult
    slow: SlowAnswer | None = None
    slow_error: str | None = None

    @property
    def escalated(self) -> bool:
        return self.fast.decision == "escalate"

    @property
    def path(self) -> str:
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


def escalate(slow: SlowPath | None, fast: SolveResult, messages: list[dict[str, str]], *, kind: AnswerKind,
             num_choices: int) -> Cascade:
    """Ask the slow path when the fast path's decision is "escalate" (routed before decoding included)."""
    if fast.decision != "escalate" or slow is None:
        return Cascade(fast)
    try:
        return Cascade(fast, slow=ask(slow, messages, kind=kind, num_choices=num_choices))
    except SlowPathError as e:
        return Cascade(fast, slow_error=str(e))
