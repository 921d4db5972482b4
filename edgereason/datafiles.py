"""Evaluation data by file name: the registry of what each file must be, and where commands look for it.

`edgereason/specs/data.json` is the one statement of every data file: its size, sha256, license and the public
sources `edgereason data pull` converts it from (`datapull`). Every command that reads data finds a file here, in
this order: the command's own path option, `$EDGEREASON_DATA`, `../shared/data` (beside the repository, else from
the working directory), `$EDGEREASON_HOME/data` (where `data pull` puts it). A file none of them has is one line
naming `edgereason data pull SET`, raised before any heavy work.
"""

import functools
import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from edgereason import cache, schema
from edgereason.errors import UsageError

ENV = "EDGEREASON_DATA"
REGISTRY = "specs/data.json"


@dataclass(frozen=True)
class Source:
    """Where a file's bytes come from, and how they become the file: `copy`, `zip-member` (the `member` of a
    zip archive), `hf-rows` (a Hugging Face split dumped as "\\n".join(rows), as WikiText-2 raw) or `jsonl-drop`
    (JSON lines with the `drop` path removed from every record, e.g. `question.choices.*.para`)."""

    url: str
    convert: str
    max_bytes: int
    member: str | None = None
    drop: str | None = None


@dataclass(frozen=True)
class DataFile:
    name: str
    bytes: int
    sha256: str
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class DataSet:
    name: str
    description: str
    license: str
    attribution: str
    files: tuple[DataFile, ...]


@functools.cache
def registry() -> dict[str, DataSet]:
    """The data sets of `specs/data.json`, checked against its schema and the rules across fields."""
    label, fix = f"edgereason/{REGISTRY}", "reinstall edgereason (the package's data registry is damaged)"
    text = resources.files("edgereason").joinpath(REGISTRY).read_text("utf-8")
    raw = schema.parse_document(text, label, what="a data registry", fix=fix)
    schema.validate(raw, "data_registry", label=label, fix=fix)
    sets, names = {}, set()
    for set_name, entry in raw["sets"].items():
        if set_name == "all":
            raise schema.SchemaError(f"{label}: sets.all: 'all' means every set and cannot name one: {fix}")
        files = []
        for j, f in enumerate(entry["files"]):
            where = f"{label}: sets.{set_name}.files[{j}]"
            if f["name"] in names:
                raise schema.SchemaError(f"{where}.name: {f['name']} is listed twice: {fix}")
            names.add(f["name"])
            for k, s in enumerate(f["sources"]):
                need = {"zip-member": "member", "jsonl-drop": "drop"}.get(s["convert"])
                if need and need not in s:
                    raise schema.SchemaError(f"{where}.sources[{k}]: a {s['convert']} source needs '{need}': {fix}")
            files.append(DataFile(f["name"], f["bytes"], f["sha256"], tuple(Source(**s) for s in f["sources"])))
        sets[set_name] = DataSet(set_name, entry["description"], entry["license"], entry["attribution"], tuple(files))
    return sets


def set_of(file_name: str) -> DataSet | None:
    """The data set a file belongs to; None for a file the registry does not know."""
    return next((s for s in registry().values() if any(f.name == file_name for f in s.files)), None)


def entry(file_name: str) -> DataFile:
    """A file's registry entry; KeyError for a name the registry does not know (a programming error)."""
    for s in registry().values():
        for f in s.files:
            if f.name == file_name:
                return f
    raise KeyError(file_name)


def shared_dir() -> Path:
    """`../shared/data` beside the repository this package was installed from, else from the working directory."""
    beside_repo = Path(__file__).resolve().parents[2] / "shared" / "data"
    return beside_repo if beside_repo.is_dir() else Path("../shared/data")


def home_dir() -> Path:
    """Where `edgereason data pull` keeps verified files: `$EDGEREASON_HOME/data`."""
    return cache.home() / "data"


def folders() -> list[tuple[str, Path]]:
    """(label, folder) in lookup order, after a command's own path option."""
    out = [(f"${ENV}", Path(os.environ[ENV]).expanduser())] if os.environ.get(ENV) else []
    return out + [("shared", shared_dir()), ("pulled", home_dir())]


def find(file_name: str) -> tuple[str, Path] | None:
    """(label, path) of the first folder that has the file, or None."""
    return next(((label, folder / file_name) for label, folder in folders() if (folder / file_name).is_file()), None)


def locate(file_name: str, *, option: str | None) -> Path:
    """The file's path by the lookup order.

    Args:
        file_name: a registry file name ("gsm8k_test.jsonl").
        option: the calling command's own path option, named in the message ("--gate-data PATH"); None if the
            file has no option of its own.

    Raises:
        UsageError: no folder has it; the message names `edgereason data pull SET`.
    """
    found = find(file_name)
    if found:
        return found[1]
    data_set = set_of(file_name)
    searched = ", ".join(str(folder) for _, folder in folders())
    pull = f"run `edgereason data pull {data_set.name}`" if data_set else "fetch it"
    instead = f", or pass {option}" if option else ""
    raise UsageError(f"{file_name} is not in {searched}: {pull}{instead}, or set {ENV} to a folder that has it")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Status:
    """One registry file as `edgereason data list` shows it."""

    data_set: str
    name: str
    where: str | None
    path: Path | None
    verified: bool


def status() -> list[Status]:
    """Every registry file: the folder that has it by the lookup order, and whether its sha256 is the registry's."""
    rows = []
    for data_set in registry().values():
        for f in data_set.files:
            found = find(f.name)
            verified = bool(found) and found[1].stat().st_size == f.bytes and sha256_file(found[1]) == f.sha256
            rows.append(Status(data_set.name, f.name, found[0] if found else None, found[1] if found else None,
                               verified))
    return rows
