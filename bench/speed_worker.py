"""One system's timing, in its own process (run by `bench.speed`; prints one JSON line on stdout).

Every runner does the same work: prefill the same prompt token ids, pick the first token from its
logits, then decode `gen_tokens` more greedily, reading the logits of every step. Loading is not
timed. TTFT is prefill + the first pick; each decode step is one forward of one token + the pick.
edgereason's runner is its real decode loop (`runtime.generate`), confidence signals included.

With `batch` B > 1 the prompt is prefilled once and B sequences decode together, one token each per step
(edgereason: its lanes, as a vote runs them; llama.cpp: one batch with a sequence id per sequence, the prompt
shared, as its "parallel decoding with common prompt"); a step's time covers all B tokens.
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


def time_edgereason(path: Path, threads: int, prompt: list[int], gen_tokens: int, *, hidden: bool = True,
                    batch: int = 1) -> Timing:
    from edgereason.runtime import open_model
    from edgereason.runtime.generate import generate

    start = time.perf_counter()
    # sizes checked; hashing is not timed work
    model = open_model(path, num_threads=threads, verify_sha256=False, hidden=hidden)
    load_s = time.perf_counter() - start
    if batch == 1:
        elapsed = [step.elapsed_ms for step in generate(model.backend, prompt, max_new_tokens=gen_tokens + 1,
                                                        stop_ids=(), reuse_prefix=False)]
        return Timing(elapsed[0], list(np.diff(elapsed)), load_s)
    lanes = model.backend.lanes(batch)
    if lanes is None:
        raise RuntimeError(f"{path.name}: this format decodes one sequence at a time")
    clocks: list[list[float]] = [[] for _ in range(batch)]

    def job(i: int):
        def run(lane, stop) -> None:
            for _ in generate(lane, prompt, max_new_tokens=gen_tokens + 1, stop_ids=()):
                clocks[i].append(time.perf_counter())
        return run

    model.backend.reset()
    start = time.perf_counter()
    model.backend.prefill_reusing(prompt)  # once; every lane copies it and runs the last token
    lanes.run([job(i) for i in range(batch)], parallel=batch)
    first = clocks[0]  # the lanes step together: one lane's clock is the batch's
    return Timing((first[0] - start) * 1e3, list(np.diff(first) * 1e3), load_s)


def time_llama_cpp(path: Path, threads: int, prompt: list[int], gen_tokens: int, *, batch: int = 1) -> Timing:
    """llama.cpp through llama-cpp-python's C API (no Python-side logits buffer for every position); B sequences
    in one llama_batch, the prompt decoded once for all of them (a unified KV cache, as llama-batched runs it)."""
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
    params.n_ctx = len(prompt) + batch * (gen_tokens + 16)
    params.n_batch = params.n_ubatch = max(len(prompt), batch, 1)
    params.n_threads = params.n_threads_batch = threads
    params.n_seq_max = batch
    params.kv_unified = True  # the prompt's cache entries are shared by every sequence
    ctx = ll.llama_init_from_model(model, params)
    n_vocab = ll.llama_vocab_n_tokens(ll.llama_model_get_vocab(model))
    work = ll.llama_batch_init(max(len(prompt), batch), 0, batch)
    load_s = time.perf_counter() - start

    def forward(entries: list[tuple[int, int, range, bool]]) -> list[int]:
        """(token, position, sequence ids, wants logits) per token; the greedy pick of each that wants logits."""
        work.n_tokens = len(entries)
        for i, (token, pos, seqs, wants) in enumerate(entries):
            work.token[i], work.pos[i], work.n_seq_id[i], work.logits[i] = token, pos, len(seqs), wants
            for k, s in enumerate(seqs):
                work.seq_id[i][k] = s
        if ll.llama_decode(ctx, work) != 0:
            raise RuntimeError("llama_decode failed")
        return [int(np.ctypeslib.as_array(ll.llama_get_logits_ith(ctx, i), shape=(n_vocab,)).argmax())
                for i, entry in enumerate(entries) if entry[3]]

    start = time.perf_counter()
    last = len(prompt) - 1
    tokens = forward([(t, i, range(batch), i == last) for i, t in enumerate(prompt)]) * batch
    ttft_ms = (time.perf_counter() - start) * 1e3
    token_ms = []
    for step in range(gen_tokens):
        t0 = time.perf_counter()
        tokens = forward([(t, len(prompt) + step, range(s, s + 1), True) for s, t in enumerate(tokens)])
        token_ms.append((time.perf_counter() - t0) * 1e3)
    ll.llama_batch_free(work)
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


def time_edgereason_no_hidden(path: Path, threads: int, prompt: list[int], gen_tokens: int, *,
                              batch: int = 1) -> Timing:
    """The same loop with the hidden-state output left unread: its cost is the difference."""
    return time_edgereason(path, threads, prompt, gen_tokens, hidden=False, batch=batch)


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
    timing = RUNNERS[spec["runner"]](Path(spec["path"]), spec["threads"], spec["prompt"], spec["gen_tokens"],
                                     **({"batch": spec["batch"]} if spec.get("batch", 1) > 1 else {}))
    print(json.dumps({**asdict(timing), "peak_rss_bytes": peak_rss_bytes()}))


if __name__ == "__main__":
    main()
