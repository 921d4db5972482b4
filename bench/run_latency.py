"""Latency through `edgereason run` (TTFT, prefill and decode tok/s) and the cost of the confidence signals.

Each measurement is a fresh `edgereason run` process, artifacts interleaved round by round, medians
reported. The confidence cost is timed in-process on the same artifact: step_signals + the trace
update against the backend's own decode step.

    python bench/run_latency.py artifacts/smollm2-135m-int4-pte artifacts/smollm2-135m-int4-onnx \
        --threads 1,2 --rounds 3
"""

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

STATS = re.compile(r"TTFT (\d+) ms \((\d+) tok/s prefill\) \| (\d+) tok, decode ([\d.]+) tok/s")
PROMPT = "Write a long, detailed story about a dragon who learns to bake bread, with many characters."


def run_once(folder: Path, threads: int, max_new_tokens: int) -> tuple[float, float, float, int]:
    cmd = [str(Path(sys.executable).parent / "edgereason"), "run", str(folder), PROMPT, "--max-new-tokens",
           str(max_new_tokens), "--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    match = STATS.search(proc.stderr.replace("\n", " "))
    if not match:
        raise RuntimeError(f"no stats line in: {proc.stderr[-400:]}")
    ttft, prefill, tokens, decode = match.groups()
    return float(ttft), float(prefill), float(decode), int(tokens)


def confidence_overhead(folder: Path, threads: int, steps: int = 128) -> tuple[float, float]:
    """(median decode step ms, median signals ms) on one artifact."""
    import numpy as np

    from edgereason.runtime import open_model
    from edgereason.runtime.confidence import TraceConfidence, step_signals

    model = open_model(folder, num_threads=threads)
    ids = model.text.chat_ids(PROMPT)
    backend = model.backend
    logits = backend.prefill(ids)
    trace = TraceConfidence()
    step_ms, signal_ms = [], []
    for _ in range(steps):
        token = int(np.argmax(logits))
        t0 = time.perf_counter()
        trace.update(step_signals(logits, token))
        t1 = time.perf_counter()
        logits = backend.step(token)
        t2 = time.perf_counter()
        signal_ms.append((t1 - t0) * 1e3)
        step_ms.append((t2 - t1) * 1e3)
    return statistics.median(step_ms), statistics.median(signal_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    samples: dict[tuple[str, int], list[tuple[float, float, float, int]]] = {}
    for folder in args.folders:  # warm-up round: page cache, first-load costs; not reported
        run_once(folder, threads[0], 8)
    for _ in range(args.rounds):
        for t in threads:
            for folder in args.folders:
                samples.setdefault((folder.name, t), []).append(run_once(folder, t, args.max_new_tokens))
    print(f"| artifact | threads | TTFT ms | prefill tok/s | decode tok/s (min-max) | tokens | rounds={args.rounds} |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for (name, t), rows in samples.items():
        ttft, prefill, decode, tokens = zip(*rows, strict=True)
        med = statistics.median
        print(f"| {name} | {t} | {med(ttft):.0f} | {med(prefill):.0f} | {med(decode):.1f} "
              f"({min(decode):.1f}-{max(decode):.1f}) | {med(tokens):.0f} | |")
    print()
    print("| artifact | threads | decode step ms | confidence ms | overhead |")
    print("|---|---:|---:|---:|---:|")
    for folder in args.folders:
        for t in threads:
            step, signal = confidence_overhead(folder, t)
            print(f"| {folder.name} | {t} | {step:.2f} | {signal:.3f} | {signal / step:.1%} |")


if __name__ == "__main__":
    main()
