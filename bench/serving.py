"""`edgereason bench serve`: what the HTTP layer costs, and how the server holds up under concurrent clients.

Overhead: the same prompt, greedy, the same artifact and thread count, in-process (`generate`) and through
`edgereason serve` + the `openai` client (streaming: TTFT is the first content chunk as the client sees it),
interleaved round by round, medians. Greedy decoding writes the same tokens both ways, so the rates compare.
Load: C clients streaming R requests each, all at once: errors, latency percentiles, total tokens per second.
"""

import contextlib
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgereason.errors import EdgeReasonError

STARTUP_S = 300
PROMPT = "Write a short story about a robot who learns to paint."
_CLI = "from edgereason.cli import run; run()"


@dataclass
class Launched:
    url: str  # http://127.0.0.1:PORT (no /v1)
    model: str
    process: subprocess.Popen

    @property
    def v1(self) -> str:
        return self.url + "/v1"


@contextlib.contextmanager
def launched(folder: Path, *args: str) -> Iterator[Launched]:
    """`edgereason serve FOLDER --port 0 ARGS` in a child process, once it prints its address; stopped after
    (SIGTERM, then a kill if it does not drain in a minute)."""
    process = subprocess.Popen([sys.executable, "-c", _CLI, "serve", str(folder), "--port", "0", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        timer = threading.Timer(STARTUP_S, process.kill)
        timer.start()
        line = process.stdout.readline()
        timer.cancel()
        match = re.search(r"serving (\S+) on (http://[^/\s]+)/v1", line)
        if not match:
            process.kill()
            raise EdgeReasonError(f"edgereason serve did not start: {line.strip() or process.stderr.read().strip()}")
        yield Launched(match.group(2), match.group(1), process)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Timing:
    ttft_s: float
    decode_tps: float
    tokens: int


def in_process(model, prompt: str, max_tokens: int) -> Timing:
    """One greedy reply in this process as `edgereason run` makes it (chat template, decode loop, streamed text),
    timed from the template to the last token."""
    from edgereason.runtime import generate

    start = time.perf_counter()
    ids = model.text.chat_ids(prompt)
    stream, stamps = model.text.stream(), []
    for step in generate(model.backend, ids, max_new_tokens=max_tokens):
        if step.finish_reason != "stop":
            stream.push(step.token_id)
            stamps.append(time.perf_counter())
    return _timing(start, stamps)


def through_server(client, model_id: str, prompt: str, max_tokens: int) -> Timing:
    """One greedy streamed reply through the server, timed as the client sees it."""
    start = time.perf_counter()
    stamps, tokens = [], 0
    stream = client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": prompt}],
                                            max_tokens=max_tokens, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter())
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    timing = _timing(start, stamps)
    timing.tokens = tokens
    if len(stamps) > 1 and tokens > 1:  # a chunk may carry more than one token (held-back text)
        timing.decode_tps = (tokens - 1) / (stamps[-1] - stamps[0])
    return timing


def _timing(start: float, stamps: list[float]) -> Timing:
    if not stamps:
        raise EdgeReasonError("the reply was empty: no token to time (try another --max-tokens)")
    decode = stamps[-1] - stamps[0]
    return Timing(stamps[0] - start, (len(stamps) - 1) / decode if decode > 0 else float("nan"), len(stamps))


def overhead(model, client, model_id: str, *, rounds: int, max_tokens: int, on_round=None) -> dict:
    """In-process vs through the server, interleaved (which goes first alternates), medians and ratios. Each round's
    prompt is new to both caches (each reuses the chat template's prefix, as a server does for an agent)."""
    runs: dict[str, list[Timing]] = {"in-process": [], "serve": []}
    for i in range(rounds):
        order = ("in-process", "serve") if i % 2 == 0 else ("serve", "in-process")
        prompt = f"{PROMPT} (round {i})"
        for way in order:
            runs[way].append(in_process(model, prompt, max_tokens) if way == "in-process"
                             else through_server(client, model_id, prompt, max_tokens))
        if on_round:
            on_round()
    rows = [{"path": way, "tokens": int(np.median([t.tokens for t in ts])),
             "ttft_ms": float(np.median([t.ttft_s for t in ts])) * 1e3,
             "decode_tps": float(np.median([t.decode_tps for t in ts])),
             "decode_tps_range": f"{min(t.decode_tps for t in ts):.1f}–{max(t.decode_tps for t in ts):.1f}"}
            for way, ts in runs.items()]
    base, served = rows
    served["decode_slowdown"] = 1 - served["decode_tps"] / base["decode_tps"]
    served["ttft_added_ms"] = served["ttft_ms"] - base["ttft_ms"]
    return {"rows": rows, "runs": {way: [asdict(t) for t in ts] for way, ts in runs.items()}}


def load(url: str, model_id: str, *, clients: int, requests: int, max_tokens: int, on_request=None) -> dict:
    """`clients` threads, each streaming `requests` replies one after another, all started together."""
    import openai

    latencies: list[float] = []
    ttfts: list[float] = []
    errors: list[str] = []
    tokens = [0]
    lock = threading.Lock()

    def worker(index: int) -> None:
        client = openai.OpenAI(base_url=url + "/v1", api_key="-", max_retries=0, timeout=600)
        for j in range(requests):
            start = time.perf_counter()
            try:
                timing = through_server(client, model_id, f"{PROMPT} (reader {index}, story {j})", max_tokens)
            except Exception as e:  # a failed request is a result here: counted, shown
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
                continue
            with lock:
                latencies.append(time.perf_counter() - start)
                ttfts.append(timing.ttft_s)
                tokens[0] += timing.tokens
            if on_request:
                on_request()

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    lat = np.array(latencies or [float("nan")])
    return {"clients": clients, "requests": clients * requests, "ok": len(latencies), "errors": len(errors),
            "first_errors": errors[:3], "wall_s": wall, "tokens": tokens[0], "total_tps": tokens[0] / wall,
            "latency_p50_s": float(np.percentile(lat, 50)), "latency_p99_s": float(np.percentile(lat, 99)),
            "ttft_p50_s": float(np.percentile(ttfts or [float("nan")], 50)),
            "ttft_p99_s": float(np.percentile(ttfts or [float("nan")], 99)), "latencies": latencies}
