"""run / solve / calibrate as a user meets them (tiny-random: mechanics and errors, not accuracy)."""

import shutil
import subprocess

import pytest
from helpers import EDGEREASON, assert_one_line_error, calibrated_spec, cli, constant_pik_calibrator

from edgereason.quant.recipes import Format, RecipeName
from edgereason.runtime import calibrate, open_model


def test_run_streams_and_reports_speed(tiny_artifacts):
    proc = cli("run", str(tiny_artifacts[Format.PTE, RecipeName.INT4]), "Hello there", "--max-new-tokens", "12",
               "--temperature", "0.8", "--top-k", "20", "--seed", "5", "--show-confidence")
    assert proc.returncode == 0, proc.stderr
    assert "TTFT" in proc.stderr and "decode" in proc.stderr and "tok/s" in proc.stderr and "confidence" in proc.stderr
    again = cli("run", str(tiny_artifacts[Format.PTE, RecipeName.INT4]), "Hello there", "--max-new-tokens", "12",
                "--temperature", "0.8", "--top-k", "20", "--seed", "5", "--show-confidence")
    assert again.stdout == proc.stdout  # same seed, same text


@pytest.mark.parametrize("args, words", [
    (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
    (["--temperature", "-1"], "--temperature must be a finite number >= 0"),
    (["--top-k", "-2"], "--top-k must be >= 0"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be a positive integer"),
])
def test_run_rejects_invalid_sampling_values(tiny_artifacts, args, words):
    assert_one_line_error(cli("run", str(tiny_artifacts[Format.ONNX, RecipeName.FP32]), "hi", *args), 2, words)


def test_run_prompt_longer_than_the_context(tiny_artifacts):
    proc = cli("run", str(tiny_artifacts[Format.ONNX, RecipeName.FP32]), "word " * 300)
    assert_one_line_error(proc, 2, "exceed the context of 128")


def test_run_non_utf8_input(tiny_artifacts):
    proc = subprocess.run([EDGEREASON, "run", str(tiny_artifacts[Format.ONNX, RecipeName.FP32]), "-"],
                          input=b"caf\xe9 \xff", capture_output=True)
    assert proc.returncode == 2 and b"not UTF-8" in proc.stderr and b"Traceback" not in proc.stderr


def test_run_missing_or_corrupt_artifact(tmp_path, artifact_copy):
    assert_one_line_error(cli("run", str(tmp_path / "nope"), "hi"), 2, "not an artifact folder")
    folder = artifact_copy(Format.ONNX, RecipeName.INT4)
    (folder / "model.onnx.data").write_bytes(b"\0" * (folder / "model.onnx.data").stat().st_size)
    assert_one_line_error(cli("run", str(folder), "hi"), 2, "model.onnx.data fails its sha256")


def test_solve_prints_answer_decision_and_traces(roomy):
    proc = cli("solve", str(roomy), "Tom has 2 apples and buys 3. How many?", "--strategy", "vote",
               "--max-traces", "2", "--max-new-tokens", "16", "--shots", "builtin", "--abort-threshold", "-1000")
    assert proc.returncode == 0, proc.stderr
    for words in ("answer", "P(correct)", "uncalibrated", "decision", "traces", "tokens", "time"):
        assert words in proc.stdout
    assert_one_line_error(cli("solve", str(roomy), "q", "--strategy", "beam"), 2, "unknown --strategy 'beam'")
    assert_one_line_error(cli("solve", str(roomy), "q", "--strategy", "vote", "--temperature", "0"), 2,
                          "--strategy vote needs --temperature > 0")  # the library's fields, as this command's flags


def test_calibrator_from_another_artifact_is_refused(roomy, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(roomy, other)
    rows = [{name: float(i % 7) for name in ("mean_conf",)} for i in range(40)]
    fitted = calibrate.fit(rows, [i % 2 == 0 for i in range(40)], features=["mean_conf"], artifact_sha256="f" * 64,
                           strategy="greedy")
    calibrated_spec(fitted).save(other)
    assert_one_line_error(cli("solve", str(other), "1+1?", "--max-new-tokens", "4", "--strategy", "greedy"), 2,
                          "solve.greedy.json belongs to another artifact")
    fitted.artifact_sha256 = open_model(roomy).model_sha256
    calibrated_spec(fitted).save(other)  # the same model file: accepted
    assert open_model(other).calibrator("greedy") is not None


def test_calibrate_needs_both_right_and_wrong_answers(roomy):
    # tiny-random never answers correctly, so the fit must refuse with a clear line, not a crash.
    proc = cli("calibrate", str(roomy), "--task", "builtin", "--n", "20", "--max-new-tokens", "6",
               "--strategy", "greedy")
    assert_one_line_error(proc, 2, "calibration needs both")


def test_the_calculator_switch_in_run_solve_and_bench(roomy, tmp_path):
    proc = cli("run", str(roomy), "What is 3 + 4?", "--max-new-tokens", "8", "--show-confidence",
               "--calculator", "compute")
    assert proc.returncode == 0, proc.stderr
    assert "arithmetic:" in proc.stdout and "statement" in proc.stdout
    proc = cli("solve", str(roomy), "Tom has 12 apples and eats 7. How many?", "--strategy", "greedy",
               "--max-new-tokens", "8", "--shots", "none", "--calculator", "compute")
    assert proc.returncode == 0, proc.stderr
    assert "arithmetic" in proc.stdout and "by the calculator" in proc.stdout
    for command in (["run", str(roomy), "hi"], ["solve", str(roomy), "q"],
                    ["bench", "reason", str(roomy), "--n", "2", "-o", str(tmp_path)]):
        assert_one_line_error(cli(*command, "--calculator", "always"), 2, "unknown --calculator 'always'")
    assert_one_line_error(cli("solve", str(roomy), "q", "--calculator", "off", "--arith-abort"), 2,
                          "--arith-abort needs the calculator: set --calculator to check or compute")
    assert_one_line_error(cli("calibrate", str(roomy), "--task", "gsm8k", "--digits", "2-4"), 2,
                          "--digits is a setting of the built-in suite")
    assert_one_line_error(cli("bench", "reason", str(roomy), "--digits", "7-9", "-o", str(tmp_path)), 2,
                          "--digits must be LO-HI")


def test_solve_routes_before_decoding_with_a_p_ik_probe(roomy, tmp_path):
    folder = tmp_path / "routed"
    shutil.copytree(roomy, folder)
    model = open_model(folder)
    model.backend.prefill([1, 2])
    cal = constant_pik_calibrator(len(model.backend.hidden), model.model_sha256, pik_logit=-6.0,
                                  route_threshold=0.05)
    calibrated_spec(cal).save(folder)
    args = ("solve", str(folder), "What is 2 + 3?", "--strategy", "greedy", "--max-new-tokens", "6", "--shots", "none")
    proc = cli(*args, "--route-before-decode")
    assert proc.returncode == 0, proc.stderr
    assert "routed before decoding: P(IK) 0.00 < route threshold 0.05" in proc.stdout and "P(IK)" in proc.stdout
    assert "0 generated" in proc.stdout
    proc = cli(*args)  # routing is opt-in: the same question is decoded, P(IK) still shown
    assert proc.returncode == 0 and "routed before" not in proc.stdout and "P(IK)" in proc.stdout
