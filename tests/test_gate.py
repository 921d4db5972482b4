from pathlib import Path

import numpy as np
import pytest

from edgereason import pipeline
from edgereason.errors import GateError, UsageError
from edgereason.quant import gate, recipes
from edgereason.quant.gate import GateConfig
from edgereason.quant.recipes import Format, GateThresholds, RecipeName
from edgereason.runtime import backends


def test_identical_models_score_perfectly(tiny_artifacts, tiny_dir, wikitext):
    candidate = backends.load(tiny_artifacts[Format.ONNX, RecipeName.FP32])
    reference = backends.load_eager(tiny_dir, candidate.info)
    tokens = gate.read_tokens(tiny_dir / "tokenizer.json", wikitext, 96)
    stats = gate.compare(reference, candidate, tokens, window=40)
    assert stats["ppl"] == pytest.approx(stats["ppl_ref"], rel=1e-5)
    assert stats["kld_mean"] < 1e-8 and stats["top1_agreement"] == 1.0


def test_kl_and_perplexity_match_a_hand_computation(tiny_artifacts, tiny_dir, wikitext):
    candidate = backends.load(tiny_artifacts[Format.ONNX, RecipeName.INT4])
    reference = backends.load_eager(tiny_dir, candidate.info)
    tokens = gate.read_tokens(tiny_dir / "tokenizer.json", wikitext, 32)
    stats = gate.compare(reference, candidate, tokens, window=32)
    p = reference.score(tokens).astype(np.float64)
    q = candidate.score(tokens).astype(np.float64)
    logp = p - np.log(np.exp(p - p.max(1, keepdims=True)).sum(1, keepdims=True)) - p.max(1, keepdims=True)
    logq = q - np.log(np.exp(q - q.max(1, keepdims=True)).sum(1, keepdims=True)) - q.max(1, keepdims=True)
    kl = (np.exp(logp) * (logp - logq)).sum(1).mean()
    nll = -logq[np.arange(31), tokens[1:]].mean()
    assert stats["kld_mean"] == pytest.approx(kl, rel=1e-6)
    assert stats["ppl"] == pytest.approx(np.exp(nll), rel=1e-6)
    assert stats["top1_agreement"] == pytest.approx((p.argmax(1) == q.argmax(1)).mean())


def test_failures_name_each_broken_threshold():
    limits = GateThresholds(max_ppl_ratio=1.1, max_kld=0.1, min_top1=0.9)
    ok = {"ppl": 10.5, "ppl_ref": 10.0, "kld_mean": 0.05, "top1_agreement": 0.95}
    assert gate.failures(ok, limits) == []
    bad = {"ppl": 20.0, "ppl_ref": 10.0, "kld_mean": 0.5, "top1_agreement": 0.5}
    assert gate.failures(bad, limits) == ["ppl ratio 2.0000 > 1.1", "mean KL 0.50000 > 0.1",
                                          "top-1 agreement 0.5000 < 0.9"]


def test_gate_data_errors(tmp_path, tiny_dir):
    with pytest.raises(UsageError, match="--gate-data"):
        gate.read_tokens(tiny_dir / "tokenizer.json", tmp_path / "missing.txt", 10)
    short = tmp_path / "short.txt"
    short.write_text("only a few words")
    with pytest.raises(UsageError, match="lower --gate-tokens"):
        gate.read_tokens(tiny_dir / "tokenizer.json", short, 1000)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 ".encode("latin-1") * 100)
    with pytest.raises(UsageError, match="not UTF-8"):
        gate.read_tokens(tiny_dir / "tokenizer.json", latin1, 10)
    with pytest.raises(UsageError, match="at least 2"):
        GateConfig(num_tokens=1)


def test_refused_artifact_leaves_no_folder(tmp_path, wikitext, monkeypatch):
    strict = recipes.Recipe(RecipeName.INT4, recipes.RECIPES[RecipeName.INT4].pte,
                            recipes.RECIPES[RecipeName.INT4].onnx,
                            GateThresholds(max_ppl_ratio=1.0, max_kld=0.0, min_top1=1.0))
    monkeypatch.setitem(recipes.RECIPES, RecipeName.INT4, strict)
    request = pipeline.ExportRequest(source="tiny-random", formats=(Format.ONNX,), recipes=(RecipeName.INT4,),
                                     out_dir=tmp_path, max_seq_len=64,
                                     gate=GateConfig(data=wikitext, num_tokens=64))
    with pytest.raises(GateError, match="tiny-random-int4-onnx: .*--force"):
        pipeline.export_artifacts(request)
    assert list(tmp_path.iterdir()) == []
    kept = pipeline.export_artifacts(pipeline.ExportRequest(**{**request.__dict__, "force": True}))
    manifest_quality = kept[0].quality
    assert kept[0].folder.is_dir() and manifest_quality.forced and not manifest_quality.passed


def test_tokenizer_free_gate_scores_seeded_ids():
    ids = gate.read_tokens(None, Path("unused"), 50, vocab_size=300)
    assert ids == gate.read_tokens(None, Path("unused"), 50, vocab_size=300)  # same ids every export
    assert len(ids) == 50 and max(ids) < 300 and len(set(ids)) > 30
