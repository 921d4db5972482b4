"""The benchmark harness on tiny-random: report folders, their schema, peers run or reported skipped.

No timed assertions: the numbers only have to exist, be positive and be consistent with each other.
"""

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error, cli

from edgereason import native
from edgereason.bench.reasoning import savings
from edgereason.bench.report import Column, Report, markdown_table, num
from edgereason.quant.recipes import Format, RecipeName
from edgereason.runtime.stats import aurc, risk_coverage

PNG = b"\x89PNG\r\n\x1a\n"


def _report_folder(root):
    (folder,) = [p for p in root.iterdir() if p.is_dir()]
    assert not list(root.glob(".*.partial")), "staging folder left behind"
    for name in ("report.md", "results.json", "results.csv"):
        assert (folder / name).is_file(), name
    return folder


def _pngs_embedded(folder, names):
    md = (folder / "report.md").read_text()
    for name in names:
        assert (folder / name).read_bytes()[:8] == PNG, name
        assert f"]({name})" in md, f"{name} not embedded in report.md"


def test_bench_speed_report(tiny_artifacts, tmp_path):
    pte = tiny_artifacts[Format.PTE, RecipeName.INT4]
    onnx = tiny_artifacts[Format.ONNX, RecipeName.FP32]
    proc = cli("bench", "speed", str(pte), str(onnx), "--peers", "llama.cpp,ort-genai,edgereason-run", "--threads", "1",
               "--prompt-tokens", "16", "--gen-tokens", "8", "--rounds", "2", "--hidden-cost", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    folder = _report_folder(tmp_path)
    results = json.loads((folder / "results.json").read_text())
    assert results["machine"]["usable_cores"] >= 1 and results["machine"]["threads"] == 1
    assert "torch" in results["machine"]["versions"]
    assert results["bandwidth_gbs"] > 0
    rows = {r["system"]: r for r in results["summary"]}
    expected = {f"edgereason {pte.name}", f"edgereason {onnx.name}", f"ort-genai {onnx.name}",
                f"edgereason (hidden unread) {onnx.name}"}  # --hidden-cost: .onnx only
    skipped = {s["peer"]: s["reason"] for s in results["skipped"]}
    if importlib.util.find_spec("llama_cpp") is not None:
        expected |= {"llama.cpp tiny-random-Q4_0", "llama.cpp tiny-random-Q8_0"}
    else:
        assert "install_llama_cpp.sh" in skipped.pop("llama.cpp")
        assert "skipped llama.cpp" in proc.stderr and "Skipped: llama.cpp" in (folder / "report.md").read_text()
    if native.binary().is_file():  # the native runner on the same folders, as its own system
        expected |= {f"edgereason-run {pte.name}", f"edgereason-run {onnx.name}"}
    else:
        assert "edgereason native build" in skipped.pop("edgereason-run")
    assert not skipped
    assert set(rows) == expected
    for row in rows.values():
        assert row.get("error") is None, row
        assert row["rounds"] == 2
        for key in ("ttft_ms", "prefill_tok_s", "decode_tok_s", "token_ms_p50", "token_ms_p90", "peak_rss_mib",
                    "size_mib", "bound_tok_s", "fraction_of_bound"):
            assert row[key] > 0, (row["system"], key)
        assert row["decode_tok_s_min"] <= row["decode_tok_s"] <= row["decode_tok_s_max"]
        assert row["token_ms_p50"] <= row["token_ms_p90"]
    systems = {s["label"]: s for s in results["systems"]}
    assert all(len(r["token_ms"]) == 8 for s in systems.values() for r in s["rounds"])
    assert "rss_within_budget" in rows[f"edgereason {pte.name}"]
    with (folder / "results.csv").open() as fh:
        assert {r["system"] for r in csv.DictReader(fh)} == expected
    _pngs_embedded(folder, ["throughput.png"])


def test_bench_speed_batch(tiny_artifacts, tmp_path):
    pte = tiny_artifacts[Format.PTE, RecipeName.INT4]
    onnx = tiny_artifacts[Format.ONNX, RecipeName.INT4]
    llama = importlib.util.find_spec("llama_cpp") is not None  # the peer, where it is built
    proc = cli("bench", "speed", str(pte), str(onnx), "--peers", "llama.cpp" if llama else "none", "--batch", "1,3",
               "--threads", "1", "--prompt-tokens", "16", "--gen-tokens", "6", "--rounds", "1", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    folder = _report_folder(tmp_path)
    results = json.loads((folder / "results.json").read_text())
    rows = {r["system"]: r for r in results["summary"]}
    expected = {f"edgereason {pte.name} B=1", f"edgereason {onnx.name} B=1", f"edgereason {onnx.name} B=3"}
    if llama:
        expected |= {f"llama.cpp tiny-random-{q} B={b}" for q in ("Q4_0", "Q8_0") for b in (1, 3)}
    assert set(rows) == expected and not any(r.get("error") for r in rows.values())
    batched = rows[f"edgereason {onnx.name} B=3"]
    assert batched["batch"] == 3 and batched["decode_tok_s"] == pytest.approx(3 * batched["per_seq_tok_s"])
    steps = [r["token_ms"] for s in results["systems"] if s["batch"] == 3 for r in s["rounds"]]
    assert steps and all(len(t) == 6 for t in steps)  # a step is all three sequences' tokens
    assert "batch-1" in {s["peer"]: s["reason"] for s in results["skipped"]}[f"edgereason {pte.name} at B > 1"]
    _pngs_embedded(folder, ["batch.png"])
    assert_one_line_error(cli("bench", "speed", str(onnx), "--batch", "0", "-o", str(tmp_path)), 2,
                          "--batch takes a comma list of positive integers")


def test_bench_quality_report(tiny_artifacts, tmp_path, wikitext):
    fp32 = tiny_artifacts[Format.ONNX, RecipeName.FP32]
    int8 = tiny_artifacts[Format.PTE, RecipeName.INT8]
    proc = cli("bench", "quality", str(fp32), str(int8), "--gate-tokens", "64", "--window", "32",
               "--gate-data", str(wikitext), "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    folder = _report_folder(tmp_path)
    rows = {r["artifact"]: r for r in json.loads((folder / "results.json").read_text())["summary"]}
    assert set(rows) == {fp32.name, int8.name}
    assert rows[fp32.name]["ppl_ratio"] == pytest.approx(1.0, abs=1e-3)
    assert rows[fp32.name]["top1_agreement"] > 0.99 and rows[fp32.name]["gate"] == "pass"
    assert rows[int8.name]["kld_mean"] > rows[fp32.name]["kld_mean"]
    assert all(r["ppl"] > 1 and r["tokens"] == 64 for r in rows.values())
    _pngs_embedded(folder, ["quality.png"])


def test_bench_usage_errors(tiny_artifacts, tmp_path):
    pte = str(tiny_artifacts[Format.PTE, RecipeName.INT4])
    assert_one_line_error(cli("bench", "speed", pte, "--peers", "vllm", "-o", str(tmp_path)), 2, "unknown peer 'vllm'")
    assert_one_line_error(cli("bench", "speed", pte, "--rounds", "0", "-o", str(tmp_path)), 2, "--rounds")
    assert_one_line_error(cli("bench", "speed", str(tmp_path / "nope"), "-o", str(tmp_path)), 2, "nope")
    assert not any(tmp_path.iterdir()), "a failed benchmark wrote a report"


def test_risk_coverage_and_aurc():
    p = np.array([0.9, 0.8, 0.3, 0.1])
    coverage, risk = risk_coverage(p, np.array([1, 1, 0, 0]))
    assert coverage.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert risk.tolist() == pytest.approx([0, 0, 1 / 3, 0.5])
    perfect = aurc(p, np.array([1, 1, 0, 0]))
    inverted = aurc(p, np.array([0, 0, 1, 1]))
    assert perfect < inverted


def test_token_savings_against_greedy_and_full_votes():
    rows = [{"base_strategy": s, "calculator": c, "tokens_per_problem": t, "probe_tokens_per_problem": probe}
            for c, scale in (("check", 1.0), ("compute", 2.0))
            for s, t, probe in (("greedy", 100.0 * scale, 0.0), ("early-exit", 40.0 * scale, 10.0 * scale),
                                ("vote", 250.0 * scale, 0.0))]
    savings(rows, max_traces=5)
    assert rows[0]["token_savings"] is None and rows[3]["token_savings"] is None
    # each mode against its own greedy row
    assert [rows[i]["token_savings"] for i in (1, 2, 4, 5)] == pytest.approx([0.5, 0.5, 0.5, 0.5])


def test_report_is_published_whole(tmp_path):
    report = Report(tmp_path, "t", {"versions": {}})
    report.table("rows", [{"a": 1.23456, "b": None}], [Column("a", "A", num(2)), Column("b", "B")])
    folder = report.publish({"x": 1, "nan": float("nan")}, [{"a": 1}])
    assert '"nan": null' in (folder / "results.json").read_text()  # strict JSON: edgereason's readers accept it
    assert "| 1.23 | – |" in (folder / "report.md").read_text()
    assert json.loads((folder / "results.json").read_text())["x"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]
    assert markdown_table([], [Column("a", "A")]).count("\n") == 1


def _reason_report(root: Path, seed: int, *, n: int = 120, states: bool = False) -> Path:
    """A `bench reason` results.json whose traces are right exactly when they wrote no false statement (and the
    other features are noise): what the arithmetic features are for. With `states`: right instead when the prompt
    state points one way (the trace features all noise), and a states.npz."""
    from edgereason.runtime.reason import FEATURES

    rng = np.random.default_rng(seed)
    direction = np.random.default_rng(0).normal(size=16)
    prompt = rng.normal(size=(n, 16))
    records = []
    for i in range(n):
        errors = float(rng.integers(0, 3))
        features = {f: float(rng.normal()) for f in FEATURES}
        features.update(arith_errors=errors, arith_statements=errors + 1, first_error_at=1.0 if errors == 0 else 0.5)
        right = prompt[i] @ direction > 0.5 if states else errors == 0
        records.append({"features": features, "correct": bool(right)})
    folder = root / f"seed{seed}{'-states' if states else ''}" / "20261202-000000"
    folder.mkdir(parents=True)
    if states:
        np.savez(folder / "states.npz", **{"greedy/prompt": prompt, "greedy/answer": rng.normal(size=(n, 16))})
    (folder / "results.json").write_text(json.dumps({"kind": "reason", "task": "builtin", "digits": "2-4",
                                                     "strategies": {"greedy": {"calculator": "check",
                                                                               "records": records}}}))
    return folder.parent


def test_bench_transfer_fits_on_one_report_and_scores_another(tmp_path):
    fit_dir, eval_dir = _reason_report(tmp_path, 1), _reason_report(tmp_path, 2)
    proc = cli("bench", "transfer", "--fit", str(fit_dir), "--eval", str(eval_dir), "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    (report,) = (tmp_path / "out").iterdir()
    rows = {r["features"]: r for r in json.loads((report / "results.json").read_text())["rows"]}
    assert rows["all"]["auroc"] > 0.95 and rows["no-arith"]["auroc"] < 0.75
    assert rows["all"]["run"] == "builtin --digits 2-4 greedy" and (report / "auroc.png").is_file()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.json").write_text(json.dumps({"kind": "speed"}))
    assert_one_line_error(cli("bench", "transfer", "--fit", str(bad), "--eval", str(eval_dir)), 2,
                          "is not a `bench reason` report")
    assert_one_line_error(cli("bench", "transfer", "--fit", str(tmp_path / "none"), "--eval", str(eval_dir)), 2,
                          "holds no bench reports")


def test_bench_transfer_fits_the_probes_on_hidden_states(tmp_path):
    fit_dir, eval_dir = _reason_report(tmp_path, 1, n=200, states=True), _reason_report(tmp_path, 2, states=True)
    proc = cli("bench", "transfer", "--fit", str(fit_dir), "--eval", str(eval_dir), "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    (report,) = (tmp_path / "out").iterdir()
    results = json.loads((report / "results.json").read_text())
    rows = {r["features"]: r for r in results["rows"]}
    assert set(rows) == {"trace", "P(IK)", "answer probe", "combined"}
    assert rows["P(IK)"]["auroc"] > 0.9 and rows["combined"]["auroc"] > 0.9 and rows["trace"]["auroc"] < 0.75
    assert rows["answer probe"]["auroc"] < 0.75 and 0 <= rows["combined"]["acc_at_50"] <= 1
    assert results["routing"] and 0 <= results["routing"][0]["routed"] <= 1
    md = (report / "report.md").read_text()
    assert "Route before decoding" in md and (report / "calibration_0.png").read_bytes()[:4] == b"\x89PNG"
    # evaluating probes on a report without states: one line
    assert_one_line_error(cli("bench", "transfer", "--fit", str(fit_dir), "--eval", str(_reason_report(tmp_path, 3)),
                              "-o", str(tmp_path / "out2")), 2, "hidden states (states.npz) for the probes")
    (fit_dir / "20261202-000000" / "states.npz").write_bytes(b"not a zip")
    assert_one_line_error(cli("bench", "transfer", "--fit", str(fit_dir), "--eval", str(eval_dir)), 2,
                          "is not a readable states file")
