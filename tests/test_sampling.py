import json
from pathlib import Path

import numpy as np
import pytest

from edgereason.errors import SettingError
from edgereason.runtime.sampling import SamplingConfig, SplitMix64, candidates, greedy, make_sampler

GOLDEN = json.loads((Path(__file__).parent / "golden" / "sampling.json").read_text())


def test_splitmix64_matches_the_reference_constants():
    # First output of SplitMix64 seeded with 0, as published with the algorithm (Vigna).
    assert SplitMix64(0).next() == 0xE220A8397B1DCDAF
    for entry in GOLDEN["splitmix64"]:
        gen = SplitMix64(int(entry["seed"]))
        assert [str(gen.next()) for _ in entry["next"]] == entry["next"]
    u = SplitMix64(5).uniform()
    assert 0.0 <= u < 1.0


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: f"{c['logits_name']}-t{c['temperature']}-k{c['top_k']}"
                                                          f"-p{c['top_p']}")
def test_golden_vectors(case):
    cfg = SamplingConfig(temperature=case["temperature"], top_k=case["top_k"], top_p=case["top_p"],
                         seed=int(case["seed"]))
    sampler = make_sampler(cfg)
    logits = np.asarray(case["logits"], dtype=np.float32)
    assert [sampler(logits) for _ in case["draws"]] == case["draws"]


def test_greedy_takes_lowest_id_on_ties():
    assert greedy(np.array([1.0, 5.0, 5.0, 2.0], dtype=np.float32)) == 1


def test_candidates_order_is_logit_desc_then_id_asc():
    rng = np.random.default_rng(0)
    logits = rng.integers(-3, 4, 200).astype(np.float32)  # many ties
    full = sorted(range(200), key=lambda i: (-logits[i], i))
    assert candidates(logits, 0).tolist() == full
    for k in (1, 5, 37, 199):
        assert candidates(logits, k).tolist() == full[:k]


def test_degenerate_settings_reduce_to_argmax():
    logits = np.array([0.3, 2.0, 1.9, -1.0], dtype=np.float32)
    for cfg in (SamplingConfig(temperature=1.0, top_k=1, seed=3), SamplingConfig(temperature=1.0, top_p=1e-9, seed=3)):
        sampler = make_sampler(cfg)
        assert {sampler(logits) for _ in range(50)} == {1}


def test_draws_follow_the_tempered_softmax():
    logits = np.array([2.0, 1.0, 0.0, -1.0], dtype=np.float32)
    sampler = make_sampler(SamplingConfig(temperature=0.8, seed=11))
    counts = np.bincount([sampler(logits) for _ in range(20000)], minlength=4) / 20000
    expected = np.exp(logits / 0.8) / np.exp(logits / 0.8).sum()
    np.testing.assert_allclose(counts, expected, atol=0.015)


def test_top_p_keeps_the_smallest_prefix_reaching_p():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32))
    sampler = make_sampler(SamplingConfig(temperature=1.0, top_p=0.8, seed=1))
    assert {sampler(logits) for _ in range(500)} == {0, 1}  # 0.5 + 0.3 reaches 0.8


@pytest.mark.parametrize("kwargs, field", [
    ({"temperature": -0.1}, "temperature"), ({"temperature": float("nan")}, "temperature"),
    ({"top_k": -1}, "top_k"), ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p"), ({"seed": -1}, "seed"),
])
def test_invalid_sampling_values(kwargs, field):
    """The library names the field it refuses (the CLI's flags for them are test_cli_reason's)."""
    with pytest.raises(SettingError) as e:
        SamplingConfig(**kwargs)
    assert e.value.fields == (field,) and str(e.value).startswith(f"{field} must be")
