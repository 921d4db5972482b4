"""`edgereason data pull`: fetch each registry file from its public sources, convert it to the bytes
`../shared/data` holds, and keep it only when its sha256 is the registry's.

A download goes to `$EDGEREASON_HOME/data/.partial/`; an interrupted one is resumed (HTTP Range) by the next pull,
and a file is renamed into place only once verified, so a reader never sees a half-written or wrong file. A source
that answers with other bytes leaves nothing behind. `--mirror URL` (or `$EDGEREASON_DATA_MIRROR`) fetches every
file as `URL/<file name>` instead; the sha256 sums still decide. Plain urllib: no dependency for a few megabytes.
"""

import contextlib
import hashlib
import http.client
import io
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edgereason import __version__, cache, datafiles
from edgereason.datafiles import DataFile, DataSet, Source
from edgereason.errors import EdgeReasonError, UsageError

MIRROR_ENV = "EDGEREASON_DATA_MIRROR"
DEFAULT_TIMEOUT_S = 30.0
DEADLINE_STALLS = 20  # a whole download may take this many stall timeouts: bounded even against a trickling server
CHUNK = 1 << 16
OFFLINE_FIX = (f"copy the files from a machine that has them and set {datafiles.ENV}=FOLDER (or pass the "
               "command's --gate-data / --task PATH), or pull from --mirror URL")


class DataFetchError(EdgeReasonError):
    """No source gave the file: offline, refused, timed out, interrupted or other bytes. Exit 1."""


class _SourceFailed(Exception):
    """One source could not give the file; the pull tries the next."""

    def __init__(self, text: str, *, unreachable: bool = False, interrupted: bool = False) -> None:
        super().__init__(text)
        self.unreachable, self.interrupted = unreachable, interrupted


class PullProgress(Protocol):
    def start(self, name: str, total: int) -> None: ...

    def advance(self, num_bytes: int) -> None: ...


class _Silent:
    def start(self, name: str, total: int) -> None:
        pass

    def advance(self, num_bytes: int) -> None:
        pass


@dataclass(frozen=True)
class Pulled:
    """A verified file: where it is, which source gave it (None: it was already there) and how many bytes came."""

    name: str
    path: Path
    source: str | None
    fetched_bytes: int
    seconds: float


def resolve_sets(names: Sequence[str]) -> list[DataSet]:
    """`all`, or set names → data sets; one line naming the choices for anything else."""
    sets = datafiles.registry()
    if not names or "all" in names:
        return list(sets.values())
    if unknown := [n for n in names if n not in sets]:
        raise UsageError(f"unknown data set '{unknown[0]}': use {', '.join(sets)} or all")
    return [sets[n] for n in dict.fromkeys(names)]


def check_mirror(mirror: str | None) -> str | None:
    """The mirror URL given or from `$EDGEREASON_DATA_MIRROR`, checked; None for the registry's sources."""
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    if mirror is None:
        return None
    parts = urllib.parse.urlsplit(mirror)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"mirror '{mirror}' is not an http(s) URL: pass --mirror http://HOST[:PORT]/PATH "
                         f"(or set {MIRROR_ENV})")
    return mirror.rstrip("/")


def pull(names: Sequence[str], *, mirror: str | None = None, timeout: float = DEFAULT_TIMEOUT_S,
         progress: PullProgress | None = None) -> list[Pulled]:
    """Fetch and verify every file of the named sets into `$EDGEREASON_HOME/data`; a file the data lookup already
    finds verified is left where it is.

    Raises:
        UsageError: an unknown set, a bad mirror URL or timeout.
        DataFetchError: a file no source could give (the files pulled before it stay, verified).
    """
    if not timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {timeout}")
    sets, mirror = resolve_sets(names), check_mirror(mirror)
    folder = datafiles.home_dir()
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for data_set in sets:
        for f in data_set.files:
            with cache.locked(f"data-{f.name}"):
                out.append(fetch_file(f, folder, mirror=mirror, timeout=timeout, progress=progress or _Silent()))
    return out


def fetch_file(f: DataFile, folder: Path, *, mirror: str | None, timeout: float,
               progress: PullProgress) -> Pulled:
    """One file into `folder`, verified; from the mirror if given, else from its sources in order. Nothing is
    fetched when the data lookup already finds a verified copy (in `../shared/data`, say)."""
    final = folder / f.name
    found = datafiles.find(f.name)
    for have in ([found[1]] if found else []) + [final]:
        if have.is_file() and have.stat().st_size == f.bytes and datafiles.sha256_file(have) == f.sha256:
            return Pulled(f.name, have, None, 0, 0.0)
    sources = ((Source(f"{mirror}/{urllib.parse.quote(f.name)}", "copy", f.bytes),) if mirror else f.sources)
    partial = folder / ".partial"
    partial.mkdir(exist_ok=True)
    failures: list[_SourceFailed] = []
    for k, source in enumerate(sources):
        part = partial / f"{f.name}.{k}.part"
        start = time.perf_counter()
        try:
            fetched, content = _fetch_verified(f, source, part, timeout, progress)
        except _SourceFailed as e:
            failures.append(e)
            continue
        tmp = folder / f".{f.name}.tmp"
        tmp.write_bytes(content)
        os.replace(tmp, final)
        for other in partial.glob(f"{f.name}.*.part"):
            other.unlink(missing_ok=True)
        _remove_if_empty(partial)
        return Pulled(f.name, final, source.url, fetched, time.perf_counter() - start)
    _remove_if_empty(partial)
    raise DataFetchError(_summary(f, failures))


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty: an interrupted download waits there to be resumed
        folder.rmdir()


def _fetch_verified(f: DataFile, source: Source, part: Path, timeout: float,
                    progress: PullProgress) -> tuple[int, bytes]:
    """The file's bytes from one source, sha256 checked; a resumed download that fails the check is fetched once
    more from scratch, and a fresh one that fails is deleted."""
    for attempt in range(2):
        resumed = part.is_file() and part.stat().st_size > 0
        fetched = _download(source, part, timeout, progress, f.name)
        try:
            content = convert(source, part.read_bytes(), f)
        except _SourceFailed:
            part.unlink(missing_ok=True)
            if resumed and attempt == 0:
                continue
            raise
        got = hashlib.sha256(content).hexdigest()
        if got == f.sha256:
            return fetched, content
        part.unlink(missing_ok=True)
        if not (resumed and attempt == 0):
            raise _SourceFailed(f"{source.url} gave other bytes (sha256 {got[:12]}…, want {f.sha256[:12]}…; "
                                "nothing kept)")
    raise AssertionError("unreachable")


def _download(source: Source, part: Path, timeout: float, progress: PullProgress, name: str) -> int:
    """Fetch `source.url` into `part`, resuming a partial file with a Range request; returns the bytes fetched."""
    have = part.stat().st_size if part.is_file() else 0
    if have > source.max_bytes:
        part.unlink()
        have = 0
    headers = {"User-Agent": f"edgereason/{__version__}"} | ({"Range": f"bytes={have}-"} if have else {})
    host = urllib.parse.urlsplit(source.url).netloc
    try:
        response = urllib.request.urlopen(urllib.request.Request(source.url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing after what we have: the partial is the whole file; the sha256 decides
            return 0
        raise _SourceFailed(f"{source.url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        reason = e.reason.strerror if isinstance(e.reason, OSError) and e.reason.strerror else e.reason
        raise _SourceFailed(f"cannot reach {host} ({reason})", unreachable=True) from None
    except (TimeoutError, OSError, http.client.HTTPException) as e:
        raise _SourceFailed(f"{source.url}: no answer in {timeout:g} s ({type(e).__name__})") from None
    deadline = time.monotonic() + DEADLINE_STALLS * timeout
    with response:
        resumed = have and response.status == 206 and response.headers.get("Content-Range", "").startswith(
            f"bytes {have}-")
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        if total is not None and total > source.max_bytes:
            raise _SourceFailed(f"{source.url}: {total:,} bytes is more than the {source.max_bytes:,} expected")
        progress.start(name, total or source.max_bytes)
        progress.advance(have)
        fetched = 0
        with open(part, "ab" if resumed else "wb") as out:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (TimeoutError, OSError, http.client.HTTPException) as e:
                    raise _SourceFailed(_interrupted(source, have, total, type(e).__name__), interrupted=True) from None
                if not chunk:
                    break
                have, fetched = have + len(chunk), fetched + len(chunk)
                if have > source.max_bytes:
                    out.close()
                    part.unlink()
                    raise _SourceFailed(f"{source.url}: more than the {source.max_bytes:,} bytes expected")
                out.write(chunk)
                progress.advance(len(chunk))
                if time.monotonic() > deadline:
                    raise _SourceFailed(_interrupted(source, have, total, f"over {DEADLINE_STALLS * timeout:g} s"),
                                        interrupted=True)
    if total is not None and have < total:
        raise _SourceFailed(_interrupted(source, have, total, "connection closed"), interrupted=True)
    return fetched


def _interrupted(source: Source, have: int, total: int | None, why: str) -> str:
    of = f" of {total:,}" if total else ""
    return f"{source.url}: interrupted after {have:,}{of} bytes ({why}; run the same command again to resume)"


def _summary(f: DataFile, failures: list[_SourceFailed]) -> str:
    if failures and all(e.unreachable for e in failures):
        reasons = "; ".join(dict.fromkeys(str(e) for e in failures))
        return f"no network for {f.name}: {reasons}: {OFFLINE_FIX}"
    return f"could not pull {f.name}: " + "; ".join(str(e) for e in failures)


def convert(source: Source, raw: bytes, f: DataFile) -> bytes:
    """A source's bytes → the file's bytes, by the source's `convert` rule.

    Raises:
        _SourceFailed: bytes that are not what the rule reads (not a zip, no such member, not JSON lines...).
    """
    try:
        if source.convert == "copy":
            return raw
        if source.convert == "zip-member":
            return _zip_member(raw, source.member or "", f.bytes)
        if source.convert == "hf-rows":
            return hf_rows(raw.decode("utf-8"))
        if source.convert == "jsonl-drop":
            return jsonl_drop(raw.decode("utf-8"), source.drop or "")
    except (ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:  # UnicodeDecodeError is a ValueError
        raise _SourceFailed(f"{source.url} is not what its '{source.convert}' rule reads ({str(e)[:100]})") from None
    raise AssertionError(f"unknown conversion {source.convert}")  # the registry's schema allows no other


def _zip_member(raw: bytes, member: str, expected_bytes: int) -> bytes:
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        info = archive.getinfo(member)  # by exact name: nothing is extracted to disk
        if info.file_size > expected_bytes:
            raise ValueError(f"{member} is {info.file_size:,} bytes, more than the {expected_bytes:,} expected")
        return archive.read(info)


def hf_rows(dump: str) -> bytes:
    """A Hugging Face text split written as "\\n".join(rows) → the original file: every non-blank row keeps its
    own trailing newline, and every blank row was a line of one space (WikiText's `wiki.*.raw`)."""
    tokens, rows, i = dump.split("\n"), [], 0
    while i < len(tokens):
        if tokens[i]:
            if i + 1 >= len(tokens) or tokens[i + 1]:
                raise ValueError(f"row {len(rows)} does not end with a newline")
            rows.append(tokens[i] + "\n")
            i += 2
        else:
            rows.append(" \n")
            i += 1
    return "".join(rows).encode("utf-8")


def jsonl_drop(text: str, path: str) -> bytes:
    """JSON lines with the field at `path` removed from every record (`*` walks every item of a list), written
    back as `json.dumps(record, ensure_ascii=False)` lines."""
    parts = path.split(".")
    lines = []
    for line in text.split("\n"):
        if line.strip():
            record = json.loads(line)
            _drop(record, parts)
            lines.append(json.dumps(record, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _drop(node: object, parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head == "*":
        children = node if isinstance(node, list) else []
    else:
        if not isinstance(node, dict):
            return
        if not rest:
            node.pop(head, None)
            return
        children = [node.get(head)]
    for child in children:
        if rest:
            _drop(child, rest)
