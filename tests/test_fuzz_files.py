"""Property-based fuzzing of every file format edgereason parses (manifest, calibrator, solve spec, task JSONL): random
structural mutations of valid files, and byte-level damage, never give anything but the file's one-line
UsageError or a valid result: no other exception (which the CLI would print as a traceback, exit 1), no hang,
and no file opened outside the artifact folder. Bounded to about a minute in all."""

import builtins
import contextlib
import copy
import io
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
from helpers import BAD_FILES, golden_folder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgereason import artifact
from edgereason.bench import tasks
from edgereason.errors import UsageError
from edgereason.runtime import calibrate, spec

FUZZ = settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture],
                derandomize=True)

@contextlib.contextmanager
def recording_opens():
    """Every path opened inside the block (`open`, `io.open` as pathlib uses it, `os.open`).

    Patched for the block only: a process-wide audit hook would also run on every `id()` call, and slow every
    later test in the session (torch.export makes millions of them).
    """
    opened: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def recording_open(file, *args, **kwargs):
        opened.append(os.fsdecode(file) if isinstance(file, str | bytes | os.PathLike) else str(file))
        return real_open(file, *args, **kwargs)

    def recording_os_open(path, *args, **kwargs):
        opened.append(os.fsdecode(path))
        return real_os_open(path, *args, **kwargs)

    builtins.open = io.open = recording_open
    os.open = recording_os_open
    try:
        yield opened
    finally:
        builtins.open = io.open = real_open
        os.open = real_os_open


scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
                    st.sampled_from(["../../../../etc/passwd", "/etc/hostname", "model.pte", "pte", "onnx", ""]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)


def paths(node, prefix=()):
    """Every path into a JSON tree, the root included."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths(value, (*prefix, i))


@st.composite
def mutated(draw, base):
    """`base` after 1-3 random structural edits: delete, replace by any JSON value, add a key, wrap in a list."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(list(paths(doc))))
        action = draw(st.sampled_from(["delete", "replace", "add", "wrap"]))
        if not where:
            doc = draw(values) if action == "replace" else ([doc] if action == "wrap" else doc)
            continue
        parent = doc
        for key in where[:-1]:
            parent = parent[key]
        last = where[-1]
        if action == "delete":
            del parent[last]
        elif action == "replace":
            parent[last] = draw(values)
        elif action == "wrap":
            parent[last] = [parent[last]]
        elif isinstance(parent[last], dict):
            parent[last][draw(st.text(max_size=12))] = draw(values)
    return json.dumps(doc)


@st.composite
def damaged_bytes(draw, base):
    """The JSON text of `base` with a few bytes flipped, cut short, or a literal JSON forbids spliced in."""
    data = bytearray(json.dumps(base).encode())
    kind = draw(st.sampled_from(["flip", "truncate", "splice"]))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif kind == "truncate":
        del data[draw(st.integers(0, len(data) - 1)):]
    else:
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.sampled_from([b"NaN", b"1e999", b"-Infinity", b"[" * 3000, b"\xff", b"\x00",
                                            b'"\\ud800"']))
    return bytes(data)


MANIFEST = BAD_FILES["manifest"]["valid"]
CALIBRATOR = BAD_FILES["calibrator"]["valid"]
SOLVE_SPEC = BAD_FILES["solve_spec"]["valid"]
GSM8K_LINE = {"question": "Tom has 3 apples and buys 2. How many?", "answer": "3 + 2 = 5\n#### 5"}
ARC_LINE = {"id": "q1", "question": {"stem": "Which is a star?", "choices": [{"text": "the Sun", "label": "A"},
                                                                             {"text": "the Moon", "label": "B"}]},
            "answerKey": "A"}


# Code and its data (modules, jsonschema's metaschemas, our schemas) that an error path may load the first time.
CODE = (sys.prefix, sys.base_prefix, str(Path(artifact.__file__).parent))


def check_manifest_bytes(folder: Path, data: bytes) -> None:
    (folder / "manifest.json").write_bytes(data)
    with recording_opens() as opened:
        try:
            manifest = artifact.read_manifest(folder)
        except UsageError as e:
            assert "\n" not in str(e)
        else:
            assert set(manifest.files) <= {"model.pte", "tokenizer.json"}
    inside = str(folder.resolve()) + "/"
    outside = [p for p in opened if not str(Path(p).resolve()).startswith((inside, *CODE))]
    assert not outside, outside


def test_fuzz_manifest_structure(tmp_path):
    folder = golden_folder(tmp_path)

    @FUZZ
    @given(mutated(MANIFEST))
    def run(text):
        check_manifest_bytes(folder, text.encode())

    run()


def test_fuzz_manifest_bytes(tmp_path):
    folder = golden_folder(tmp_path)

    @FUZZ
    @given(damaged_bytes(MANIFEST))
    def run(data):
        check_manifest_bytes(folder, data)

    run()


def _check_calibrator(text: str) -> None:
    try:
        cal = calibrate.parse_calibrator(text, "calibrator.early-exit.json")
    except UsageError as e:
        assert "\n" not in str(e)
        return
    rows = [{name: 0.5 for name in cal.features}, {name: 1e4 for name in cal.features}]
    p = cal.predict(rows)
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in p), p  # a valid file never gives P(correct) = nan


@FUZZ
@given(mutated(CALIBRATOR))
def test_fuzz_calibrator_structure(text):
    _check_calibrator(text)


@FUZZ
@given(damaged_bytes(CALIBRATOR))
def test_fuzz_calibrator_bytes(data):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # files are decoded by schema.read_json first, tested with the manifest
    _check_calibrator(text)


def _check_spec(text: str) -> None:
    try:
        parsed = spec.parse_spec(text, "solve.early-exit.json")
    except UsageError as e:
        assert "\n" not in str(e)
        return
    assert spec.parse_spec(parsed.dumps(), "again") == parsed  # what a valid spec writes, it reads back the same


@FUZZ
@given(mutated(SOLVE_SPEC))
def test_fuzz_solve_spec_structure(text):
    _check_spec(text)


@FUZZ
@given(damaged_bytes(SOLVE_SPEC))
def test_fuzz_solve_spec_bytes(data):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    _check_spec(text)


def test_fuzz_task_files(tmp_path):
    path = tmp_path / "task.jsonl"

    @FUZZ
    @given(st.lists(st.one_of(mutated(GSM8K_LINE), mutated(ARC_LINE), damaged_bytes(GSM8K_LINE).map(
        lambda b: b.decode("utf-8", "replace"))), min_size=0, max_size=4), st.booleans())
    def run(lines, binary):
        data = "\n".join(line.replace("\n", " ") for line in lines).encode()
        path.write_bytes(data + (b"\xff\xfe" if binary else b""))
        try:
            problems = tasks.load_task(str(path), n=10)
        except UsageError as e:
            assert "\n" not in str(e)
        else:
            assert all(p.question for p in problems)

    run()


def test_fuzz_found_no_nan_path_in_predict():
    """The schema's bounds are what keep predict finite: the most extreme valid calibrator still is."""
    extreme = {**CALIBRATOR, "mean": [-1e12] * 11, "scale": [1e-12] * 11, "weights": [1e6, -1e6] * 5 + [1e6],
               "bias": -1e6}
    cal = calibrate.parse_calibrator(json.dumps(extreme), "extreme")
    p = cal.predict([{name: 1e4 for name in cal.features}])
    assert np.isfinite(p).all()
