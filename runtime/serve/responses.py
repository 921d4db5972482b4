"""OpenAI-shaped response bodies: completions, chat completions, their stream chunks, logprobs, usage.

Every response also carries an `edgereason` key (OpenAI clients keep unknown fields: `response.model_extra`):
per choice, the trace's confidence summary and edgereason's finer finish reason; for a solve, its answer,
P(correct), decision and reasons.
"""

from typing import Any

from .engine import Choice, TokenLogprob


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def choice_extension(choice: Choice) -> dict[str, Any]:
    return {"index": choice.index, "finish": choice.finish, "confidence": choice.confidence,
            "ttft_ms": round(choice.ttft_ms, 3), "decode_tokens_per_second": choice.decode_tps}


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def chat_logprobs(entries: list[TokenLogprob]) -> dict[str, Any]:
    return {"content": [{**_entry(e.token, e.logprob), "top_logprobs": [_entry(t, lp) for t, lp in e.top]}
                        for e in entries], "refusal": None}


def completion_logprobs(entries: list[TokenLogprob], start: int = 0) -> dict[str, Any]:
    offsets, at = [], start
    for e in entries:
        offsets.append(at)
        at += len(e.token)
    return {"tokens": [e.token for e in entries], "token_logprobs": [e.logprob for e in entries],
            "top_logprobs": [{t: lp for t, lp in e.top} for e in entries], "text_offset": offsets}


def chat(rid: str, created: int, model: str, choices: list[Choice], prompt_tokens: int, *, logprobs: bool,
         extension: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": rid, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": c.index, "message": {"role": "assistant", "content": c.text, "refusal": None},
                     "logprobs": chat_logprobs(c.logprobs) if logprobs else None, "finish_reason": c.finish_reason}
                    for c in choices],
        "usage": usage(prompt_tokens, sum(c.completion_tokens for c in choices)),
        "edgereason": {"choices": [choice_extension(c) for c in choices], **(extension or {})},
    }


def completion(rid: str, created: int, model: str, choices: list[Choice], prompt_tokens: int, *,
               logprobs: bool) -> dict[str, Any]:
    return {
        "id": rid, "object": "text_completion", "created": created, "model": model,
        "choices": [{"index": c.index, "text": c.text,
                     "logprobs": completion_logprobs(c.logprobs) if logprobs else None,
                     "finish_reason": c.finish_reason} for c in choices],
        "usage": usage(prompt_tokens, sum(c.completion_tokens for c in choices)),
        "edgereason": {"choices": [choice_extension(c) for c in choices]},
    }


def chat_chunk(rid: str, created: int, model: str, index: int, delta: dict[str, Any], *,
               logprobs: list[TokenLogprob] | None = None, finish_reason: str | None = None,
               extension: dict[str, Any] | None = None) -> dict[str, Any]:
    chunk = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
             "choices": [{"index": index, "delta": delta,
                          "logprobs": chat_logprobs(logprobs) if logprobs is not None else None,
                          "finish_reason": finish_reason}]}
    if extension is not None:
        chunk["edgereason"] = extension
    return chunk


def completion_chunk(rid: str, created: int, model: str, index: int, text: str, *,
                     logprobs: list[TokenLogprob] | None = None, offset: int = 0, finish_reason: str | None = None,
                     extension: dict[str, Any] | None = None) -> dict[str, Any]:
    chunk = {"id": rid, "object": "text_completion", "created": created, "model": model,
             "choices": [{"index": index, "text": text,
                          "logprobs": completion_logprobs(logprobs, offset) if logprobs is not None else None,
                          "finish_reason": finish_reason}]}
    if extension is not None:
        chunk["edgereason"] = extension
    return chunk


def usage_chunk(rid: str, created: int, model: str, obj: str, prompt_tokens: int,
                completion_tokens: int) -> dict[str, Any]:
    """The last chunk of a stream with `stream_options.include_usage`: no choices, the usage."""
    return {"id": rid, "object": obj, "created": created, "model": model, "choices": [],
            "usage": usage(prompt_tokens, completion_tokens)}
