"""The command line as a user meets it: one-line errors, exit codes, nothing half-written."""

import json
import os
import signal
import subprocess
import time

import pytest
from helpers import EDGEREASON, assert_one_line_error, cli

from edgereason.quant.recipes import Format, RecipeName


@pytest.mark.parametrize("args, words", [
    (["export", "smollm9-1t"], "unknown model 'smollm9-1t'"),
    (["export", "tiny-random", "--recipe", "int3"], "unknown recipe 'int3': use fp32, int8, int4 or all"),
    (["export", "tiny-random", "--format", "tflite"], "unknown format 'tflite'"),
    (["export", "/no/such/model.gguf"], "does not exist"),
    (["export", "tiny-random", "--max-seq-len", "0"], "--max-seq-len must be a positive integer"),
    (["models", "pull", "nope"], "unknown model 'nope'"),
])
def test_usage_errors_exit_2_with_one_line(args, words, tmp_path):
    assert_one_line_error(cli(*args, "-o", str(tmp_path)) if args[0] == "export" else cli(*args), 2, words)


def test_corrupt_gguf_and_unsupported_architecture(tmp_path, tiny_dir):
    gguf = tmp_path / "broken.gguf"
    gguf.write_bytes(b"GGUF" + os.urandom(4096))
    env_home = {"EDGEREASON_HOME": str(tmp_path / "home")}
    proc = subprocess.run([EDGEREASON, "export", str(gguf), "-o", str(tmp_path / "out")], capture_output=True,
                          text=True, env={**os.environ, **env_home})
    assert_one_line_error(proc, 2, "corrupt or truncated")
    gpt2 = tmp_path / "gpt2"
    gpt2.mkdir()
    config = json.loads((tiny_dir / "config.json").read_text())
    (gpt2 / "config.json").write_text(json.dumps({**config, "architectures": ["GPT2LMHeadModel"]}))
    assert_one_line_error(cli("export", str(gpt2), "-o", str(tmp_path / "out")), 2, "GPT2LMHeadModel")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_existing_output_needs_overwrite(tiny_artifacts, tmp_path):
    folder = tiny_artifacts[Format.ONNX, RecipeName.INT4]
    proc = cli("export", "tiny-random", "--format", "onnx", "--recipe", "int4", "-o", str(folder.parent))
    assert_one_line_error(proc, 2, "already exists: pass --overwrite")


def test_unwritable_output(tmp_path, tiny_dir):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = cli("export", "tiny-random", "--format", "onnx", "-o", str(blocker / "sub"), "--gate-tokens", "16")
    assert_one_line_error(proc, 2, "choose another -o")


def test_export_table_and_inspect(tmp_path, tiny_dir, wikitext):
    proc = cli("export", "tiny-random", "--format", "onnx", "--recipe", "int8", "-o", str(tmp_path),
               "--max-seq-len", "64", "--gate-tokens", "64", "--gate-data", str(wikitext))
    assert proc.returncode == 0, proc.stderr
    assert "tiny-random-int8-onnx" in proc.stdout and "top-1" in proc.stdout and "pass" in proc.stdout
    proc = cli("inspect", str(tmp_path / "tiny-random-int8-onnx"))
    assert proc.returncode == 0, proc.stderr
    assert "checksums: ok" in proc.stdout and "loads: yes" in proc.stdout and "int8" in proc.stdout


def test_inspect_refuses_corrupt_artifact(artifact_copy):
    folder = artifact_copy(Format.PTE, RecipeName.FP32)
    with open(folder / "tokenizer.json", "r+b") as f:
        f.seek(100)
        f.write(b"#")
    assert_one_line_error(cli("inspect", str(folder)), 2, "tokenizer.json fails its sha256")
    assert_one_line_error(cli("inspect", str(folder.parent / "nothing")), 2, "not an artifact folder")


def test_models_list(smollm2_dir):
    proc = cli("models", "list")
    assert proc.returncode == 0
    assert "smollm2-135m" in proc.stdout and "tiny-random" in proc.stdout


def test_ctrl_c_leaves_no_folder(tmp_path, tiny_dir):
    # As from a terminal: a job started in the background by a non-interactive shell inherits SIGINT
    # ignored (POSIX), and Python then never raises KeyboardInterrupt; reset it for the child.
    proc = subprocess.Popen([EDGEREASON, "export", "tiny-random", "--format", "pte", "--recipe", "fp32",
                             "-o", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    staging = tmp_path / ".tiny-random-fp32-pte.partial"
    deadline = time.monotonic() + 120
    while not staging.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert staging.exists(), "the export never started staging"
    time.sleep(1.0)  # inside the exporter, not between steps
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []
