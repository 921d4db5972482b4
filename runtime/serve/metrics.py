"""`GET /metrics`: the server's counters in Prometheus' text exposition format (version 0.0.4)."""

import threading
from collections import Counter

# Histogram buckets (upper bounds) of the time to first token, seconds.
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PREFIX = "edgereason"


class Metrics:
    """Thread-safe: the event loop and the model thread both write."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()  # (endpoint, status)
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.decode_seconds = 0.0  # time spent decoding (first token to last), for the mean tok/s
        self.decode_tokens = 0
        self.last_tps = 0.0
        self.ttft = [0] * (len(TTFT_BUCKETS) + 1)
        self.ttft_sum = 0.0
        self.ttft_count = 0
        self.depth = 0
        self.rejections = 0
        self.decisions: Counter[str] = Counter()  # accept | escalate
        self.escalations: Counter[str] = Counter()  # answered | unavailable

    def request(self, endpoint: str, status: int) -> None:
        with self._lock:
            self.requests[endpoint, status] += 1

    def generated(self, prompt_tokens: int, completion_tokens: int, ttft_s: float, tps: float | None) -> None:
        with self._lock:
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            if tps:
                self.last_tps = tps
                self.decode_tokens += completion_tokens - 1
                self.decode_seconds += (completion_tokens - 1) / tps
            if completion_tokens:
                self.ttft_count += 1
                self.ttft_sum += ttft_s
                self.ttft[next((i for i, b in enumerate(TTFT_BUCKETS) if ttft_s <= b), len(TTFT_BUCKETS))] += 1

    def queue(self, depth: int) -> None:
        self.depth = depth

    def rejected(self) -> None:
        with self._lock:
            self.rejections += 1

    def decided(self, decision: str, escalation: str | None) -> None:
        with self._lock:
            self.decisions[decision] += 1
            if escalation:
                self.escalations[escalation] += 1

    def render(self, running: int) -> str:
        with self._lock:
            lines: list[str] = []

            def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
                lines.append(f"# HELP {PREFIX}_{name} {help_text}")
                lines.append(f"# TYPE {PREFIX}_{name} {kind}")
                lines.extend(f"{PREFIX}_{name}{labels} {_number(value)}" for labels, value in samples)

            metric("requests_total", "counter", "HTTP requests by endpoint and status code.",
                   [(f'{{endpoint="{e}",code="{c}"}}', n) for (e, c), n in sorted(self.requests.items())])
            metric("rejected_total", "counter", "Requests refused with 503 because the queue was full.",
                   [("", self.rejections)])
            metric("prompt_tokens_total", "counter", "Prompt tokens of finished requests.", [("", self.prompt_tokens)])
            metric("completion_tokens_total", "counter", "Tokens generated.", [("", self.completion_tokens)])
            mean_tps = self.decode_tokens / self.decode_seconds if self.decode_seconds else 0.0
            metric("decode_tokens_per_second", "gauge", "Decode speed of the last request.", [("", self.last_tps)])
            metric("decode_tokens_per_second_mean", "gauge", "Decode speed over all requests.", [("", mean_tps)])
            cumulative, samples = 0, []
            for bound, count in zip((*TTFT_BUCKETS, float("inf")), self.ttft, strict=True):
                cumulative += count
                samples.append((f'_bucket{{le="{"+Inf" if bound == float("inf") else bound}"}}', cumulative))
            samples += [("_sum", self.ttft_sum), ("_count", self.ttft_count)]
            metric("time_to_first_token_seconds", "histogram", "Prefill to first token.", samples)
            metric("queue_depth", "gauge", "Requests waiting for the model.", [("", self.depth)])
            metric("running", "gauge", "Requests on the model now (0 or 1).", [("", running)])
            metric("decisions_total", "counter", "Solve decisions.",
                   [(f'{{decision="{d}"}}', self.decisions[d]) for d in ("accept", "escalate")])
            metric("escalations_total", "counter", "Escalated solves by what the slow path did.",
                   [(f'{{outcome="{o}"}}', self.escalations[o]) for o in ("answered", "unavailable")])
            return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
