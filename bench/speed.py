"""`bench speed`: every system in its own process, interleaved round by round, medians reported.

A system is one (runtime, model file): an edgereason artifact folder, ONNX Runtime GenAI's own
generator on one of our .onnx folders, or llama.cpp on a GGUF made from the same checkpoint.
Round 0 is a warm-up (page cache, first-load costs) and is not reported; in every later round each
system runs once, in turn, so a slow moment of the machine hits all of them alike. Peak RSS is the
kernel's high-water mark of the worker process (VmHWM; model load included). Not wait4's ru_maxrss:
on Linux that carries the parent's RSS at fork into the child.

The memory-bandwidth bound: decoding one token streams every weight once, so no runtime can
decode faster than (copy bandwidth) / (model file bytes); the fraction of it reached says how much
headroom is left. The bandwidth is measured in the same run, with the same thread count.
"""

import dataclasses
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgereason import models, native
from edgereason.artifact import Manifest, read_manifest
from edgereason.bench import peers
from edgereason.errors import UsageError
from edgereason.export import hf
from edgereason.quant.gate import read_tokens

WORKER = "edgereason.bench.speed_worker"
NO_HIDDEN = "edgereason-no-hidden"  # speed_worker's runner: our loop, the hidden-state output unread
RSS_SLACK_BYTES = 150 * 10**6  # the goal: peak RSS <= artifact + KV cache + 150 MB


@dataclass(frozen=True)
class System:
    label: str
    runner: str  # a key of speed_worker.RUNNERS
    path: Path  # artifact folder or .gguf file
    model: str  # model name: systems of one model share a prompt
    weight_bytes: int  # the model file(s): size column and bandwidth bound
    kv_bytes: int | None = None  # KV cache of an edgereason artifact (for the RSS budget)
    batch: int = 1  # sequences decoded together (speed_worker)


@dataclass
class Result:
    system: System
    rounds: list[dict] = field(default_factory=list)  # Timing fields + peak_rss_bytes
    error: str | None = None

    def summary(self, bandwidth_gbs: float) -> dict:
        """Medians over the rounds; decode tok/s counts every sequence's tokens (B per step), per_seq_tok_s one
        sequence's, and the bandwidth bound is on steps (a step streams the weights once, whatever B)."""
        med = statistics.median
        batch = self.system.batch
        decode = [batch * len(r["token_ms"]) / sum(r["token_ms"]) * 1e3 for r in self.rounds]
        decode_med = med(decode)
        prefill_tokens = self.rounds[0]["prompt_tokens"]
        tokens = np.concatenate([r["token_ms"] for r in self.rounds])
        peak = max(r["peak_rss_bytes"] for r in self.rounds)
        bound = bandwidth_gbs * 1e9 / self.system.weight_bytes
        out = {
            "system": self.system.label,
            "runner": self.system.runner,
            "batch": batch,
            "ttft_ms": med(r["ttft_ms"] for r in self.rounds),
            "prefill_tok_s": med(prefill_tokens / r["ttft_ms"] * 1e3 for r in self.rounds),
            "decode_tok_s": decode_med,
            "per_seq_tok_s": decode_med / batch,
            "decode_tok_s_min": min(decode),
            "decode_tok_s_max": max(decode),
            "token_ms_p50": float(np.percentile(tokens, 50)),
            "token_ms_p90": float(np.percentile(tokens, 90)),
            "peak_rss_mib": peak / 2**20,
            "size_mib": self.system.weight_bytes / 2**20,
            "bound_tok_s": bound,
            "fraction_of_bound": decode_med / batch / bound,
            "rounds": len(self.rounds),
        }
        if self.system.kv_bytes is not None:
            # B > 1: the lanes' B rows and the parent's own cache, which holds the prompt they copy
            caches = 1 if batch == 1 else batch + 1
            budget = self.system.weight_bytes + caches * self.system.kv_bytes + RSS_SLACK_BYTES
            out["rss_budget_mib"] = budget / 2**20
            out["rss_within_budget"] = peak <= budget
        return out


def model_bytes(folder: Path, manifest: Manifest) -> int:
    """The model file and its external data; tokenizer and configs don't stream per token."""
    return sum(entry.bytes for name, entry in manifest.files.items() if name.startswith("model."))


def kv_cache_bytes(manifest: Manifest) -> int:
    arch = manifest.arch
    return 2 * arch.n_layers * arch.n_kv_heads * arch.head_dim * arch.max_seq_len * 4  # fp32 K and V


# What decodes several sequences in one batch (speed_worker's batch): the others are timed at B = 1 only.
BATCHED = {("edgereason", "onnx"), (peers.LLAMA_CPP, "gguf")}
NOT_BATCHED = {"pte": "ExecuTorch programs here are batch-1 (no batch dimension in the exported program)",
               peers.NATIVE: "the native runner decodes one sequence", peers.ORT_GENAI: "not measured at B > 1",
               NO_HIDDEN: "timed at B = 1 only"}


def plan(folders: list[Path], peer_names: list[str], *, hidden_cost: bool = False, batches: Sequence[int] = (1,)
         ) -> tuple[list[System], list[dict], dict[str, Path]]:
    """The systems to time, the peers skipped (with why), and each model's normalized checkpoint. `hidden_cost`
    adds, for each .onnx folder, our loop with its hidden-state output unread; `batches`: each system that can
    batch once per B (the others once, at B = 1, and why in the skipped list)."""
    single, skipped, checkpoints = _plan(folders, peer_names, hidden_cost=hidden_cost)
    systems = []
    for s in single:
        kind = s.path.suffix.lstrip(".") if s.runner == peers.LLAMA_CPP else read_manifest(
            s.path, verify_sha256=False).format
        for b in batches:
            if b == 1 or (s.runner, kind) in BATCHED:
                systems.append(dataclasses.replace(s, batch=b, label=s.label if len(batches) == 1 else
                                                   f"{s.label} B={b}"))
        if any(b > 1 for b in batches) and (s.runner, kind) not in BATCHED:
            why = NOT_BATCHED.get(s.runner) or NOT_BATCHED.get(kind, "not batched")
            skipped.append({"peer": f"{s.label} at B > 1", "reason": why})
    return systems, skipped, checkpoints


def _plan(folders: list[Path], peer_names: list[str], *, hidden_cost: bool) -> tuple[list[System], list[dict],
                                                                                      dict[str, Path]]:
    systems: list[System] = []
    skipped: list[dict] = []
    checkpoints: dict[str, Path] = {}
    available = set()
    for st in (peers.status(name) for name in peer_names):
        if st.available:
            available.add(st.name)
        else:
            skipped.append({"peer": st.name, "reason": st.reason})
    for folder in folders:
        manifest = read_manifest(folder, verify_sha256=False)
        name = manifest.model.name
        checkpoints.setdefault(name, folder)
        systems.append(System(f"edgereason {folder.name}", "edgereason", folder, name,
                              model_bytes(folder, manifest), kv_cache_bytes(manifest)))
        if hidden_cost and manifest.format == "onnx":
            systems.append(System(f"edgereason (hidden unread) {folder.name}", NO_HIDDEN, folder, name,
                                  model_bytes(folder, manifest), kv_cache_bytes(manifest)))
        if peers.NATIVE in available:
            systems.append(System(f"edgereason-run {folder.name}", peers.NATIVE, folder, name,
                                  model_bytes(folder, manifest), kv_cache_bytes(manifest)))
        if manifest.format == "onnx" and peers.ORT_GENAI in available:
            systems.append(System(f"ort-genai {folder.name}", peers.ORT_GENAI, folder, name,
                                  model_bytes(folder, manifest)))
    if peers.LLAMA_CPP in available:
        for name, folder in checkpoints.items():
            source = models.resolve(read_manifest(folder, verify_sha256=False).model.source)
            hf_dir = hf.normalize(source)
            for quant in peers.GGUF_TYPES:
                gguf = peers.make_gguf(hf_dir, name, quant)
                systems.append(System(f"llama.cpp {gguf.stem}", peers.LLAMA_CPP, gguf, name, gguf.stat().st_size))
    return systems, skipped, checkpoints


def prompts(checkpoints: dict[str, Path], num_tokens: int, data: Path | None) -> dict[str, list[int]]:
    """The first `num_tokens` of `data` in each model's tokenizer: every system of a model gets the same ids."""
    out = {}
    for name, folder in checkpoints.items():
        manifest = read_manifest(folder, verify_sha256=False)
        out[name] = read_tokens(manifest.tokenizer_path(folder), data, num_tokens, vocab_size=manifest.arch.vocab_size)
    return out


def native_command(folder: Path, threads: int, prompt: list[int], gen_tokens: int) -> list[str]:
    """The native runner doing the Python worker's work: the same ids, first token + `gen_tokens` steps."""
    return [str(native.binary()), str(folder), "--tokens", ",".join(map(str, prompt)),
            "--max-new-tokens", str(gen_tokens + 1), "--threads", str(threads), "--ignore-eos", "--no-verify-sha256"]


def native_timing(stdout: str) -> dict:
    """The speed worker's Timing fields from the runner's JSON lines (elapsed_ms is cumulative)."""
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    elapsed = [line["elapsed_ms"] for line in lines if "elapsed_ms" in line]
    summary = lines[-1]["summary"]
    return {"ttft_ms": elapsed[0], "token_ms": [float(d) for d in np.diff(elapsed)],
            "load_s": summary["load_ms"] / 1e3, "peak_rss_bytes": summary["peak_rss_bytes"]}


def run_worker(system: System, threads: int, prompt: list[int], gen_tokens: int) -> dict:
    """One timed run in a fresh process; raises RuntimeError with the worker's last words."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    if system.runner == peers.NATIVE:
        command, parse = native_command(system.path, threads, prompt, gen_tokens), native_timing
    else:
        spec = json.dumps({"runner": system.runner, "path": str(system.path), "threads": threads, "prompt": prompt,
                           "gen_tokens": gen_tokens, "batch": system.batch})
        command, parse = [sys.executable, "-m", WORKER, spec], lambda out: json.loads(out.strip().splitlines()[-1])
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        last = [line for line in proc.stderr.strip().splitlines() if line.strip()][-1:] or ["no output"]
        raise RuntimeError(f"{system.label} failed (exit {proc.returncode}): {last[0]}")
    return {**parse(proc.stdout), "prompt_tokens": len(prompt)}


def run(systems: list[System], prompt_ids: dict[str, list[int]], *, threads: int, gen_tokens: int, rounds: int,
        on_run: Callable[[System, int], None] | None = None) -> list[Result]:
    """Round 0 warms up; rounds 1..`rounds` are kept. A system that fails is reported, not retried."""
    results = [Result(s) for s in systems]
    for round_index in range(rounds + 1):
        for result in results:
            if result.error:
                continue
            if on_run:
                on_run(result.system, round_index)
            try:
                sample = run_worker(result.system, threads, prompt_ids[result.system.model], gen_tokens)
            except RuntimeError as e:
                result.error = str(e)
                continue
            if round_index > 0:
                result.rounds.append(sample)
    return results


def check_folders(folders: list[Path], context_tokens: int = 0) -> None:
    """One clear error for a missing or corrupt folder, or one whose context can't hold `context_tokens`."""
    if not folders:
        raise UsageError("give at least one artifact folder, e.g. artifacts/*")
    for folder in folders:
        manifest = read_manifest(folder, verify_sha256=False)
        if context_tokens > manifest.arch.max_seq_len:
            raise UsageError(f"{folder.name} has a context of {manifest.arch.max_seq_len} tokens, the run needs "
                             f"{context_tokens} (prompt + decode steps + 1): lower --prompt-tokens or --gen-tokens")


def result_row(result: Result, bandwidth_gbs: float) -> dict:
    if result.error or not result.rounds:
        return {"system": result.system.label, "runner": result.system.runner, "error": result.error}
    return result.summary(bandwidth_gbs)


def system_dict(system: System) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(system).items()}
