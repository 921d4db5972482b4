"""Regenerate sampling.json — only when DESIGN.md's sampler spec changes (the ports compare against it).

Run: python tests/golden/make_sampling_vectors.py
"""

import json
from pathlib import Path

import numpy as np

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
    doc = {
        "spec": "DESIGN.md section 7: SplitMix64; uniform = (next() >> 11) * 2^-53; "
                "candidates by (logit desc, id asc); top-k first k; logits / temperature; softmax in float64; "
                "top-p smallest prefix with cumsum >= p; "
                "draw first candidate with cumulative mass > u * total; temperature 0 = argmax, lowest id on ties. "
                "Each case draws 16 times from the same logits with one sampler (the PRNG advances). "
                "Seeds and PRNG outputs are decimal strings (64-bit unsigned).",
        "splitmix64": splitmix,
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
