"""`edgereason data pull|list` and the data lookup, against a real HTTP server on 127.0.0.1 that this test starts.

The server serves the shared data files as a mirror would, and also corrupted, truncated, missing and hanging
copies; nothing here reaches the internet.
"""

import http.server
import io
import json
import socket
import threading
import time
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgereason import datafiles, datapull
from edgereason.cli import app
from edgereason.datafiles import DataFile, Source
from edgereason.errors import UsageError

SHARED = {row.name: row.path for row in datafiles.status() if row.path and row.verified}  # before tests hide them


def _shared(name: str) -> bytes:
    if name not in SHARED:
        pytest.skip(f"{name} not found (the shared data folder)")
    return SHARED[name].read_bytes()


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET /<mode>/<file>: `good` (with Range), `corrupt` (one byte flipped), `cut` (half the body, then the
    connection closes, on the mode's first request only), `cut-norange` (as `cut`, then ignores Range), `missing` (404),
    `hang` (never answers), `extra/<file>` (the bytes a test put in `server.extra`)."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        mode, _, name = self.path.lstrip("/").partition("/")
        if mode == "hang":
            time.sleep(5)
            return
        path = SHARED.get(name)
        body = server.extra.get(name) if mode == "extra" else path.read_bytes() if path else None
        if mode == "missing" or body is None:
            self.send_error(404)
            return
        if mode == "corrupt":
            body = bytes([body[0] ^ 1]) + body[1:]
        first = mode not in server.seen
        server.seen.add(mode)
        if mode.startswith("cut") and first:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        start = 0
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes=") and mode != "cut-norange":
            start = int(ranged[6:].rstrip("-"))
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up on a hanging or cut answer is what these tests do on purpose


@pytest.fixture
def server():
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.requests, httpd.seen, httpd.extra = [], set(), {}
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh $EDGEREASON_HOME; `$EDGEREASON_DATA` unset and the shared folder out of sight: a user's own clone."""
    monkeypatch.setattr(datafiles, "shared_dir", lambda: tmp_path / "no-shared-data")
    monkeypatch.setenv("EDGEREASON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EDGEREASON_DATA", raising=False)
    monkeypatch.delenv(datapull.MIRROR_ENV, raising=False)
    return tmp_path / "home"


def _left_behind(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in (home / "data").rglob("*") if p.is_file())


def test_the_registry_describes_the_shared_files_byte_for_byte():
    for data_set in datafiles.registry().values():
        assert data_set.license and data_set.attribution
        for f in data_set.files:
            body = _shared(f.name)
            assert len(body) == f.bytes
    assert all(row.verified for row in datafiles.status())


def test_pull_from_a_mirror_verifies_and_commands_find_the_files(server, home, monkeypatch):
    pulled = datapull.pull(["gsm8k", "arc-easy"], mirror=f"{server.url}/good/")
    assert [p.name for p in pulled] == ["gsm8k_test.jsonl", "gsm8k_train.jsonl", "arc_easy_test.jsonl"]
    for p in pulled:
        assert p.path == home / "data" / p.name and p.path.read_bytes() == _shared(p.name)
        assert p.source == f"{server.url}/good/{p.name}" and p.fetched_bytes == len(_shared(p.name))
    assert _left_behind(home) == ["data/arc_easy_test.jsonl", "data/gsm8k_test.jsonl", "data/gsm8k_train.jsonl"]
    again = datapull.pull(["gsm8k"], mirror=f"{server.url}/good")
    assert all(p.source is None for p in again)  # verified files are kept, nothing fetched

    # Lookup order: $EDGEREASON_DATA, then the shared folder, then the pulled files.
    assert datafiles.locate("gsm8k_test.jsonl", option="--task FILE.jsonl") == home / "data" / "gsm8k_test.jsonl"
    own = home / "mine"
    own.mkdir()
    (own / "gsm8k_test.jsonl").write_text('{"question": "1+1?", "answer": "#### 2"}\n')
    monkeypatch.setenv("EDGEREASON_DATA", str(own))
    assert datafiles.locate("gsm8k_test.jsonl", option=None) == own / "gsm8k_test.jsonl"
    from edgereason.bench import tasks

    assert [p.answer for p in tasks.read_gsm8k()] == ["2"]
    assert datafiles.locate("arc_easy_test.jsonl", option=None) == home / "data" / "arc_easy_test.jsonl"
    rows = {r.name: r for r in datafiles.status()}
    assert rows["gsm8k_test.jsonl"].where == "$EDGEREASON_DATA" and not rows["gsm8k_test.jsonl"].verified
    assert rows["arc_easy_test.jsonl"].where == "pulled" and rows["arc_easy_test.jsonl"].verified
    assert rows["wikitext2_test_raw.txt"].path is None


def test_other_bytes_are_refused_and_nothing_is_left_behind(server, home):
    with pytest.raises(datapull.DataFetchError, match=r"gave other bytes \(sha256 .*nothing kept"):
        datapull.pull(["gsm8k"], mirror=f"{server.url}/corrupt")
    assert _left_behind(home) == []


def test_an_interrupted_download_resumes_where_it_stopped(server, home):
    size = len(_shared("gsm8k_test.jsonl"))
    with pytest.raises(datapull.DataFetchError, match=f"interrupted after {size // 2:,} of {size:,} bytes.*resume"):
        datapull.pull(["gsm8k"], mirror=f"{server.url}/cut")
    assert _left_behind(home) == ["data/.partial/gsm8k_test.jsonl.0.part"]
    [first, *_] = datapull.pull(["gsm8k"], mirror=f"{server.url}/cut")
    assert first.fetched_bytes == size - size // 2 and first.path.read_bytes() == _shared("gsm8k_test.jsonl")
    assert ("/cut/gsm8k_test.jsonl", f"bytes={size // 2}-") in server.requests
    assert _left_behind(home) == ["data/gsm8k_test.jsonl", "data/gsm8k_train.jsonl"]


def test_a_server_that_ignores_range_gets_a_clean_retry(server, home):
    with pytest.raises(datapull.DataFetchError, match="interrupted"):
        datapull.pull(["arc-easy"], mirror=f"{server.url}/cut-norange")
    [pulled] = datapull.pull(["arc-easy"], mirror=f"{server.url}/cut-norange")
    assert pulled.fetched_bytes == len(_shared("arc_easy_test.jsonl"))
    assert pulled.path.read_bytes() == _shared("arc_easy_test.jsonl")


def test_missing_hanging_and_unreachable_sources_fail_in_one_bounded_line(server, home):
    with pytest.raises(datapull.DataFetchError, match=r"could not pull gsm8k_test.jsonl: .*/missing/gsm8k_test"
                                                      r".jsonl: HTTP 404"):
        datapull.pull(["gsm8k"], mirror=f"{server.url}/missing")
    start = time.monotonic()
    with pytest.raises(datapull.DataFetchError, match="no answer in 0.5 s"):
        datapull.pull(["gsm8k"], mirror=f"{server.url}/hang", timeout=0.5)
    assert time.monotonic() - start < 4
    with socket.socket() as s:  # a port nobody listens on: what a machine without network sees
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    with pytest.raises(datapull.DataFetchError, match=r"^no network for gsm8k_test.jsonl: cannot reach 127.0.0.1:"
                                                      rf"{dead} \(Connection refused\): .*EDGEREASON_DATA.*--mirror"):
        datapull.pull(["gsm8k"], mirror=f"http://127.0.0.1:{dead}")
    assert _left_behind(home) == []


def test_each_conversion_rebuilds_the_shared_bytes_from_its_source_form(server, home):
    """The registry's sources are converted, not copied: the WikiText-2 split dump, the official zip and the
    ARC records with GenMC's extra field, made here from the shared files, become those files again."""
    raw = _shared("wikitext2_test_raw.txt").decode("utf-8")
    rows = ["" if line == " \n" else line for line in raw.splitlines(keepends=True)]
    server.extra["dump.txt"] = "\n".join(rows).encode("utf-8")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("wikitext-2-raw/wiki.train.raw", "not this one\n")
        z.writestr("wikitext-2-raw/wiki.test.raw", raw)
    server.extra["wikitext-2-raw-v1.zip"] = archive.getvalue()
    records = [json.loads(line) for line in _shared("arc_easy_test.jsonl").decode("utf-8").splitlines()]
    for r in records:
        for c in r["question"]["choices"]:
            c["para"] = "retrieved evidence " * 3
    server.extra["genmc.jsonl"] = ("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n").encode()
    server.extra["not-a-zip.zip"] = b"PK no"

    folder = home / "data"
    folder.mkdir(parents=True)
    wiki = datafiles.entry("wikitext2_test_raw.txt")
    for source in (Source(f"{server.url}/extra/not-a-zip.zip", "zip-member", 1 << 20, member=wiki.sources[0].member),
                   Source(f"{server.url}/extra/wikitext-2-raw-v1.zip", "zip-member", 1 << 23,
                          member=wiki.sources[0].member),
                   Source(f"{server.url}/extra/dump.txt", "hf-rows", 1 << 21)):
        one = DataFile(wiki.name, wiki.bytes, wiki.sha256, (source,))
        if source.url.endswith("not-a-zip.zip"):
            with pytest.raises(datapull.DataFetchError, match="is not what its 'zip-member' rule reads"):
                datapull.fetch_file(one, folder, mirror=None, timeout=5, progress=datapull._Silent())
            continue
        pulled = datapull.fetch_file(one, folder, mirror=None, timeout=5, progress=datapull._Silent())
        assert pulled.path.read_bytes() == raw.encode("utf-8")
        pulled.path.unlink()
    arc = datafiles.entry("arc_easy_test.jsonl")
    genmc = DataFile(arc.name, arc.bytes, arc.sha256,
                     (Source(f"{server.url}/extra/genmc.jsonl", "jsonl-drop", 1 << 23, drop=arc.sources[0].drop),))
    pulled = datapull.fetch_file(genmc, folder, mirror=None, timeout=5, progress=datapull._Silent())
    assert pulled.path.read_bytes() == _shared("arc_easy_test.jsonl")
    tiny = DataFile(arc.name, arc.bytes, arc.sha256, (Source(f"{server.url}/extra/genmc.jsonl", "jsonl-drop",
                                                             1000, drop="x"),))
    pulled.path.unlink()
    with pytest.raises(datapull.DataFetchError, match="bytes is more than the 1,000 expected"):
        datapull.fetch_file(tiny, folder, mirror=None, timeout=5, progress=datapull._Silent())
    assert _left_behind(home) == []


def test_bad_names_and_mirrors_are_usage_errors():
    with pytest.raises(UsageError, match="unknown data set 'wiki': use wikitext2, gsm8k, arc-easy or all"):
        datapull.resolve_sets(["wiki"])
    with pytest.raises(UsageError, match="mirror 'file:///etc' is not an http"):
        datapull.check_mirror("file:///etc")


def test_a_missing_file_stops_the_export_and_the_task_before_any_work(home, monkeypatch, tmp_path):
    from edgereason import pipeline
    from edgereason.bench import tasks
    from edgereason.quant.gate import GateConfig
    from edgereason.quant.recipes import Format, RecipeName

    request = pipeline.ExportRequest(source="smollm2-135m", formats=(Format.ONNX,), recipes=(RecipeName.INT4,),
                                     out_dir=tmp_path / "out", gate=GateConfig())
    start = time.monotonic()
    with pytest.raises(UsageError, match=r"^wikitext2_test_raw.txt is not in .*no-shared-data, .*home/data: run "
                                         r"`edgereason data pull wikitext2`, or pass --gate-data PATH, or set "
                                         r"EDGEREASON_DATA"):
        pipeline.export_artifacts(request)
    assert time.monotonic() - start < 5 and not (tmp_path / "out").exists()
    with pytest.raises(UsageError, match=r"gsm8k_test.jsonl is not in .*data pull gsm8k`, or pass --task FILE"):
        tasks.load_task("gsm8k", n=5)
    result = CliRunner().invoke(app, ["export", "smollm2-135m", "--format", "onnx", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and not (tmp_path / "out").exists()


def test_cli_pull_and_list(server, home, monkeypatch, tmp_path):
    monkeypatch.setenv(datapull.MIRROR_ENV, f"{server.url}/good")
    runner = CliRunner()
    result = runner.invoke(app, ["data", "pull", "wikitext2"])
    assert result.exit_code == 0, result.output
    assert "License CC BY-SA 3.0" in result.output and "wikitext2_test_raw.txt: verified, fetched" in result.output
    result = runner.invoke(app, ["data", "list"])
    assert result.exit_code == 0
    assert result.output.count("verified") == 2 and result.output.count("missing") == 3 + 1  # and "what is missing"
    assert "edgereason data pull SET" in result.output
    result = runner.invoke(app, ["data", "pull", "nope"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["data", "pull", "gsm8k", "--mirror", "ftp://x"])
    assert result.exit_code == 2 and not (home / "data" / "gsm8k_test.jsonl").exists()


def test_a_verified_copy_the_lookup_finds_is_not_fetched_again(tmp_path, monkeypatch):
    """What the README's first command relies on: `data pull` before the export works offline where the shared
    folder is, and downloads only on a machine without it."""
    if len(SHARED) < sum(len(s.files) for s in datafiles.registry().values()):
        pytest.skip("the shared data folder is not complete here")
    monkeypatch.setenv("EDGEREASON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EDGEREASON_DATA", raising=False)
    pulled = datapull.pull(["all"], mirror="http://127.0.0.1:9")  # nothing listens there: nothing may be fetched
    assert all(p.source is None and p.path == SHARED[p.name] for p in pulled)
