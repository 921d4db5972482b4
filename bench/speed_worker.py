"""One system's timing, in its own process (run by `bench.speed`; prints one JSON line on stdout).

Every runner does the same work: prefill the same prompt token ids, pick the first token from its
logits, then decode `gen_tokens` more greedily, reading the logits of every step. Loading is not
timed. TTFT is prefill + the first pick; each decode step is one forward of one token + the pick.
edgereason's runner is its real decode loop (`runtime.generate`), confidence signals included.
"""

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass
class Timing:
    ttft_ms: float
    token_ms: list[float]  # one per decode step after the first token
    load_s: float


def time_edgereason(path: Path, threads: int, prompt: list[int], gen_tokens: int, *, hidden: bool = True) -> Timing:
    from edgereason.runtime import open_model
    from edgereason.runtime.generate import generate

    start = time.perf_counter()
    # sizes checked; hashing is not timed work
    model = open_model(path, num_threads=threads, verify_sha256=False, hidden=hidden)
    load_s = time.perf_counter() - start
    elapsed = [step.elapsed_ms for step in generate(model.backend, prompt, max_new_tokens=gen_tokens + 1,
                                                    stop_ids=(), reuse_prefix=False)]
    return Timing(elapsed[0], list(np.diff(elapsed)), load_s)


def time_llama_cpp(path: Path, threads: int, prompt: list[int], gen_tokens: int) -> Timing:
    """llama.cpp through llama-cpp-python's C API (no Python-side logits buffer for every position)."""
    import ctypes

    import llama_cpp as ll

    start = time.perf_counter()
    ll.llama_backend_init()
    quiet = ll.llama_log_callback(lambda level, text, data: None)  # must outlive every llama.cpp call
    ll.llama_log_set(quiet, ctypes.c_void_p(0))
    model = ll.llama_model_load_from_file(str(path).encode(), ll.llama_model_default_params())
    if not model:
        raise RuntimeError(f"llama.cpp could not load {path}")
    params = ll.llama_context_default_params()
    params.n_ctx = len(prompt) + gen_tokens + 16
    params.n_batch = params.n_ubatch = max(len(prompt), 1)
    params.n_threads = params.n_threads_batch = threads
    ctx = ll.llama_init_from_model(model, params)
    n_vocab = ll.llama_vocab_n_tokens(ll.llama_model_get_vocab(model))
    load_s = time.perf_counter() - start

    def forward(ids: list[int]) -> int:
        array = (ll.llama_token * len(ids))(*ids)
        if ll.llama_decode(ctx, ll.llama_batch_get_one(array, len(ids))) != 0:
            raise RuntimeError("llama_decode failed")
        logits = np.ctypeslib.as_array(ll.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
        return int(logits.argmax())

    start = time.perf_counter()
    token = forward(prompt)
    ttft_ms = (time.perf_counter() - start) * 1e3
    token_ms = []
    for _ in range(gen_tokens):
        t0 = time.perf_counter()
        token = forward([token])
        token_ms.append((time.perf_counter() - t0) * 1e3)
    ll.llama_free(ctx)
    ll.llama_model_free(model)
    del quiet
    return Timing(ttft_ms, token_ms, load_s)


def time_ort_genai(path: Path, threads: int, prompt: list[int], gen_tokens: int) -> Timing:
    """ONNX Runtime GenAI's own generator on our .onnx folder (its genai_config.json)."""
    import onnxruntime_genai as og

    start = time.perf_counter()
    config = og.Config(str(path))
    config.overlay(json.dumps({"model": {"decoder": {"session_options": {
        "intra_op_num_threads": threads, "inter_op_num_threads": 1}}}}))
    model = og.Model(config)
    params = og.GeneratorParams(model)
    total = len(prompt) + gen_tokens + 1
    params.set_search_options(max_length=total, min_length=total, do_sample=False)
    generator = og.Generator(model, params)
    load_s = time.perf_counter() - start

    start = time.perf_counter()
    generator.append_tokens(np.asarray(prompt, dtype=np.int32))
    generator.get_logits()
    generator.generate_next_token()  # the first token, from the prefill's logits
    ttft_ms = (time.perf_counter() - start) * 1e3
    token_ms = []
    for _ in range(gen_tokens):
        if generator.is_done():
            break
        t0 = time.perf_counter()
        generator.get_logits()  # runs the model on the last token
        generator.generate_next_token()
        token_ms.append((time.perf_counter() - t0) * 1e3)
    return Timing(ttft_ms, token_ms, load_s)


def time_edgereason_no_hidden(path: Path, threads: int, prompt: list[int], gen_tokens: int) -> Timing:
    """The same loop with the hidden-state output left unread: its cost is the difference."""
    return time_edgereason(path, threads, prompt, gen_tokens, hidden=False)


RUNNERS = {"edgereason": time_edgereason, "edgereason-no-hidden": time_edgereason_no_hidden,
           "llama.cpp": time_llama_cpp, "ort-genai": time_ort_genai}


def peak_rss_bytes() -> int:
    """The kernel's high-water mark of this process's resident memory (reset at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource  # not Linux: ru_maxrss is bytes on macOS

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    spec = json.loads(sys.argv[1])
    timing = RUNNERS[spec["runner"]](Path(spec["path"]), spec["threads"], spec["prompt"], spec["gen_tokens"])
    print(json.dumps({**asdict(timing), "peak_rss_bytes": peak_rss_bytes()}))


if __name__ == "__main__":
    main()
