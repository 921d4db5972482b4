import json

import pytest

from edgereason import artifact
from edgereason.errors import ArtifactError, OutputError
from edgereason.quant.recipes import Format, RecipeName

FORMAT_FILES = {Format.PTE: {"model.pte"}, Format.ONNX: {"model.onnx", "model.onnx.data", "genai_config.json"}}


@pytest.mark.parametrize("fmt", list(Format))
@pytest.mark.parametrize("recipe", list(RecipeName))
def test_folder_layout_and_manifest_round_trip(tiny_artifacts, fmt, recipe):
    folder = tiny_artifacts[fmt, recipe]
    assert folder.name == f"tiny-random-{recipe.value}-{fmt.value}"
    manifest = artifact.read_manifest(folder)
    assert set(manifest.files) >= FORMAT_FILES[fmt] | {"tokenizer.json", "tokenizer_config.json"}
    assert artifact.Manifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest
    assert manifest.format == fmt.value and manifest.recipe.name == recipe.value
    assert manifest.tokenizer.eos_ids == [2]
    assert manifest.arch.max_seq_len == 128 and manifest.arch.vocab_size == 49152
    assert manifest.quality is not None and manifest.quality.n_tokens == 128
    assert manifest.created_by["torch"].startswith("2.13.0")
    assert not list(folder.parent.glob(".*partial")), "staging folders must not survive"


def test_checksum_mismatch_names_the_file(artifact_copy):
    folder = artifact_copy(Format.PTE, RecipeName.INT4)
    model = folder / "model.pte"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one bit pattern changed
    model.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="model.pte fails its sha256"):
        artifact.read_manifest(folder)
    artifact.read_manifest(folder, verify_sha256=False)  # sizes still match: the opt-out loads


def test_truncated_or_missing_file_is_refused(artifact_copy):
    folder = artifact_copy(Format.ONNX, RecipeName.INT4)
    data = folder / "model.onnx.data"
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(ArtifactError, match="incomplete or corrupt"):
        artifact.read_manifest(folder, verify_sha256=False)
    data.unlink()
    with pytest.raises(ArtifactError, match="model.onnx.data is missing"):
        artifact.read_manifest(folder)


def test_missing_or_foreign_manifest(tmp_path, artifact_copy):
    with pytest.raises(ArtifactError, match="no manifest.json"):
        artifact.read_manifest(tmp_path)
    folder = artifact_copy(Format.ONNX, RecipeName.FP32)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="schema_version 99"):
        artifact.read_manifest(folder)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        artifact.read_manifest(folder)


def test_staging_publishes_only_complete_folders(tmp_path):
    final = tmp_path / "a"
    with pytest.raises(RuntimeError), artifact.staging(final, overwrite=False) as tmp:
        (tmp / "half.bin").write_bytes(b"x")
        raise RuntimeError("export died")
    assert not final.exists() and list(tmp_path.iterdir()) == []
    with artifact.staging(final, overwrite=False) as tmp:
        (tmp / "whole.bin").write_bytes(b"x")
    assert (final / "whole.bin").is_file()
    with pytest.raises(OutputError, match="--overwrite"), artifact.staging(final, overwrite=False):
        pass
    with artifact.staging(final, overwrite=True) as tmp:
        (tmp / "new.bin").write_bytes(b"y")
    assert sorted(p.name for p in final.iterdir()) == ["new.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_unwritable_output_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="choose another -o"), artifact.staging(blocker / "a", overwrite=False):
        pass


def test_disk_full_during_export_leaves_nothing(tmp_path):
    import errno

    final = tmp_path / "a"
    with pytest.raises(OutputError, match="No space left"), artifact.staging(final, overwrite=False) as tmp:
        (tmp / "part.bin").write_bytes(b"x")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []
