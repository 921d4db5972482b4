"""Regenerate sampling.json — only when DESIGN.md's sampler or signal spec changes (the ports compare against it).

Run: python tests/golden/make_sampling_vectors.py
"""

import json
from pathlib import Path

import numpy as np

from edgereason.runtime.confidence import step_signals
from edgereason.runtime.sampling import SamplingConfig, SplitMix64, make_sampler

OUT = Path(__file__).with_name("sampling.json")


def main() -> None:
    rng = np.random.default_rng(1234)
    logits_sets = {
        "ties": [1.0, 3.0, 3.0, -2.0, 0.5, 3.0, -1.0, 2.0],
        "peaked": [0.0, 9.0, 1.0, 2.0, -3.0, 8.5, 0.0, 0.0, 4.0, 1.0],
        "flat": [0.25] * 12,
        "random64": [round(float(v), 4) for v in rng.normal(0, 2.5, 64)],
    }
    # Longer than the top-k window (20) so token_conf averages a strict subset; values rounded so
    # the JSON holds them exactly in float32.
    signal_sets = {**logits_sets, "random3000": [round(float(v), 3) for v in rng.normal(0, 3.0, 3000)]}
    configs = [
        SamplingConfig(temperature=0.0),
        SamplingConfig(temperature=1.0, seed=0),
        SamplingConfig(temperature=0.7, seed=42),
        SamplingConfig(temperature=1.3, top_k=3, seed=7),
        SamplingConfig(temperature=1.0, top_p=0.9, seed=2024),
        SamplingConfig(temperature=0.8, top_k=5, top_p=0.8, seed=18446744073709551615),
    ]
    cases = []
    for name, logits in logits_sets.items():
        for cfg in configs:
            sampler = make_sampler(cfg)
            arr = np.asarray(logits, dtype=np.float32)
            cases.append({"logits_name": name, "logits": logits, "temperature": cfg.temperature, "top_k": cfg.top_k,
                          "top_p": cfg.top_p, "seed": str(cfg.seed), "draws": [sampler(arr) for _ in range(16)]})
    splitmix = []
    for seed in (0, 42, 18446744073709551615):
        gen = SplitMix64(seed)
        splitmix.append({"seed": str(seed), "next": [str(gen.next()) for _ in range(4)]})
    signals = []
    for name, logits in signal_sets.items():
        arr = np.asarray(logits, dtype=np.float32)
        for token in sorted({int(np.argmax(arr)), len(logits) // 2}):
            sig = step_signals(arr, token, top_k=20)
            signals.append({"logits_name": name, "token": token, "top_k": 20, "logprob": sig.logprob,
                            "top1_prob": sig.top1_prob, "margin": sig.margin, "entropy": sig.entropy,
                            "token_conf": sig.token_conf})
    doc = {
        "spec": "DESIGN.md section 7: SplitMix64; uniform = (next() >> 11) * 2^-53; "
                "candidates by (logit desc, id asc); top-k first k; logits / temperature; softmax in float64; "
                "top-p smallest prefix with cumsum >= p; "
                "draw first candidate with cumulative mass > u * total; temperature 0 = argmax, lowest id on ties. "
                "Each case draws 16 times from the same logits with one sampler (the PRNG advances). "
                "Seeds and PRNG outputs are decimal strings (64-bit unsigned).",
        "splitmix64": splitmix,
        "cases": cases,
        "signals_spec": "runtime/confidence.py: on the raw logits (before temperature/top-k/top-p), as float32; "
                        "log Z = logsumexp; logprob = logit[token] - log Z; top1_prob, margin = p1 - p2; "
                        "entropy in nats; token_conf = log Z - mean of the top_k largest logits (all if fewer). "
                        "Ports must agree within 1e-5.",
        "signals": signals,
        "signal_logits": {"random3000": signal_sets["random3000"]},
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
