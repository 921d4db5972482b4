"""Every command that reads a path, given a missing path, the wrong kind of path and an unreadable file: one
`error:` line naming the fix, exit 2, no traceback, nothing written."""

import pytest
from helpers import assert_one_line_error, cli

ARTIFACT_COMMANDS = {
    "inspect": ["inspect", "{}"],
    "run": ["run", "{}", "hello"],
    "solve": ["solve", "{}", "What is 2 + 3?"],
    "calibrate": ["calibrate", "{}"],
    "bench speed": ["bench", "speed", "{}", "--peers", "none", "-o", "{out}"],
    "bench quality": ["bench", "quality", "{}", "-o", "{out}"],
    "bench reason": ["bench", "reason", "{}", "-o", "{out}"],
    "android push": ["android", "push", "{}"],
    "eval": ["eval", "{}", "--tasks", "arc_easy", "-o", "{out}"],
}
FILE_COMMANDS = {
    "models check": ["models", "check", "{}"],
    "models random": ["models", "random", "{}", "-o", "{out}/ckpt"],
    "bench archs": ["bench", "archs", "{}", "-o", "{out}"],
    "export": ["export", "{}", "-o", "{out}"],
    "calibrate --task": ["calibrate", "{artifact}", "--task", "{}"],
    "bench reason --task": ["bench", "reason", "{artifact}", "--task", "{}", "-o", "{out}"],
    "export --gate-data": ["export", "tiny-random", "--gate-data", "{}", "-o", "{out}"],
    "bench quality --gate-data": ["bench", "quality", "{artifact}", "--gate-data", "{}", "-o", "{out}"],
}


def _paths(tmp_path):
    missing = tmp_path / "no-such-thing"
    folder = tmp_path / "a-folder"
    folder.mkdir()
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 8)
    broken = tmp_path / "broken-artifact"
    broken.mkdir()
    (broken / "manifest.json").write_bytes(garbage.read_bytes())
    return missing, folder, garbage, broken


def _run(template, path, tmp_path, artifact=""):
    out = tmp_path / "out"
    args = [a.format(path, out=out, artifact=artifact) for a in template]
    proc = cli(*args, timeout=300)
    assert not out.exists() or not any(out.iterdir()), f"{args} wrote {list(out.iterdir())}"
    return proc


@pytest.mark.parametrize("command", ARTIFACT_COMMANDS, ids=list(ARTIFACT_COMMANDS))
def test_artifact_commands(tmp_path, command):
    missing, folder, garbage, broken = _paths(tmp_path)
    for path, words in ((missing, "is not an artifact folder"), (folder, "has no manifest.json"),
                        (garbage, "is not an artifact folder"), (broken, "is not UTF-8 text")):
        assert_one_line_error(_run(ARTIFACT_COMMANDS[command], path, tmp_path), 2, words)


@pytest.mark.parametrize("command", FILE_COMMANDS, ids=list(FILE_COMMANDS))
def test_file_commands(tmp_path, command, tiny_artifacts):
    from edgereason.quant.recipes import Format, RecipeName

    artifact = str(tiny_artifacts[Format.ONNX, RecipeName.FP32])
    missing, folder, garbage, _ = _paths(tmp_path)
    for path in (missing, folder, garbage):
        proc = _run(FILE_COMMANDS[command], path, tmp_path, artifact)
        assert_one_line_error(proc, 2, "")
        assert str(path.name) in proc.stderr, proc.stderr  # the message names the path it could not use
