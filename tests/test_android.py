"""`edgereason android push` against a fake `adb` (the external tool, recording its arguments), and the Android
demo's host-JVM tests (android_demo/scripts/test_core.sh) when javac and JUnit 4 are installed."""

import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from helpers import EDGEREASON, assert_one_line_error

from edgereason import artifact, cache
from edgereason.artifact import ArchInfo, IOInfo, Manifest, ModelInfo, RecipeInfo, TokenizerInfo

REPO = Path(__file__).resolve().parents[1]
REMOTE = "/sdcard/Android/data/org.edgereason.demo/files/artifacts"

FAKE_ADB = textwrap.dedent("""\
    #!/usr/bin/env bash
    # Stands in for adb and does what adb would: records each call, answers `devices` from $FAKE_ADB_DEVICES,
    # runs `shell` commands with bash (the phone's /sdcard is $FAKE_SDCARD, the shell's working folder
    # $FAKE_DEVICE_CWD) and copies `push` into the fake /sdcard; fails `push` on request.
    printf '%s\\n' "$*" >> "$FAKE_ADB_LOG"
    args=("$@")
    if [[ ${args[0]} == -s ]]; then args=("${args[@]:2}"); fi
    case "${args[0]}" in
      devices) printf 'List of devices attached\\n%b\\n' "${FAKE_ADB_DEVICES:-}" ;;
      shell) cd "$FAKE_DEVICE_CWD" && exec bash -c "${args[1]//\\/sdcard/$FAKE_SDCARD}" ;;
      push)
        if [[ -n ${FAKE_ADB_PUSH_ERROR:-} ]]; then echo "$FAKE_ADB_PUSH_ERROR" >&2; exit 1; fi
        cp -r "${args[1]}" "${args[2]/#\\/sdcard/$FAKE_SDCARD}" && echo "${args[1]}: 2 files pushed." ;;
    esac
    """)


@pytest.fixture
def folder(tmp_path) -> Path:
    """A small but complete artifact folder (manifest with sizes and sha256), as export writes it."""
    path = tmp_path / "tiny-int4-pte"
    path.mkdir()
    (path / "model.pte").write_bytes(b"\x00program" * 100)
    (path / "tokenizer.json").write_text("{}")
    manifest = Manifest(
        model=ModelInfo(name="tiny", source="tiny-random", source_sha256=None),
        arch=ArchInfo(architecture="LlamaForCausalLM", n_layers=2, n_heads=4, n_kv_heads=2, head_dim=16, dim=64,
                      vocab_size=128, max_seq_len=128, rope_theta=10000.0),
        tokenizer=TokenizerInfo(file="tokenizer.json", bos_id=1, add_bos=False, eos_ids=[2], chat_template=None),
        format="pte", recipe=RecipeInfo(name="int4", details={}),
        io=IOInfo(method="forward", inputs=["tokens[1,T] int64", "input_pos[1] int64"],
                  outputs=["logits[1,V] float32"], logits="last"))
    artifact.record_files(path, manifest)
    artifact.write_manifest(path, manifest)
    return path


def push(tmp_path: Path, *args: str, devices: str | None = "emulator-5554\tdevice", adb: bool = True,
         push_error: str = "") -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run `edgereason android push` with only the fake adb (or nothing) on PATH; returns the adb calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if adb:
        (bin_dir / "adb").write_text(FAKE_ADB)
        (bin_dir / "adb").chmod(0o755)
    log = tmp_path / "adb.log"
    (tmp_path / "sdcard").mkdir(exist_ok=True)
    (tmp_path / "device-cwd").mkdir(exist_ok=True)
    env = {**os.environ, "PATH": f"{bin_dir}:/bin:/usr/bin" if adb else str(bin_dir), "FAKE_ADB_LOG": str(log),
           "FAKE_ADB_DEVICES": devices or "", "FAKE_ADB_PUSH_ERROR": push_error,
           "FAKE_SDCARD": str(tmp_path / "sdcard"), "FAKE_DEVICE_CWD": str(tmp_path / "device-cwd")}
    if not adb:
        env["PATH"] = str(bin_dir)
    proc = subprocess.run([EDGEREASON, "android", "push", *args], capture_output=True, text=True, env=env,
                          timeout=120)
    return proc, log.read_text().splitlines() if log.exists() else []


def on_phone(tmp_path: Path) -> Path:
    """The fake phone's artifacts folder."""
    return tmp_path / "sdcard" / REMOTE.removeprefix("/sdcard/")


def test_push_copies_under_a_hidden_name_then_renames(tmp_path, folder):
    proc, calls = push(tmp_path, str(folder))
    assert proc.returncode == 0, proc.stderr
    assert "pushed tiny-int4-pte" in proc.stdout and f"emulator-5554:{REMOTE}/tiny-int4-pte" in proc.stdout
    partial = re.fullmatch(rf"-s emulator-5554 push {re.escape(str(folder))} ({REMOTE}/\.push-[0-9a-f]{{16}}"
                           r"\.partial)", calls[2])
    assert partial, calls
    assert calls == [
        "devices",
        f"-s emulator-5554 shell mkdir -p {REMOTE}",
        f"-s emulator-5554 push {folder} {partial[1]}",
        f"-s emulator-5554 shell rm -rf {REMOTE}/tiny-int4-pte && mv {partial[1]} {REMOTE}/tiny-int4-pte",
    ]
    landed = on_phone(tmp_path)
    assert sorted(p.name for p in landed.iterdir()) == ["tiny-int4-pte"]  # no staging copy left behind
    assert (landed / "tiny-int4-pte" / "model.pte").read_bytes() == (folder / "model.pte").read_bytes()
    artifact.read_manifest(landed / "tiny-int4-pte")  # the copy on the phone verifies


@pytest.mark.parametrize("name", ["evil';touch PWNED;'", 'evil";touch PWNED;"', "evil$(touch PWNED)", "-rf x"])
def test_folder_names_never_reach_the_device_shell(tmp_path, folder, name):
    evil = folder.rename(folder.parent / name)
    proc, calls = push(tmp_path, str(evil))
    assert_one_line_error(proc, 2, "has characters the app can't list")
    assert calls == [] and not list((tmp_path / "device-cwd").iterdir())


@pytest.mark.parametrize("package", ["org.x';reboot;'", "org.x$(touch PWNED)", "org", "org..x", "1org.x", ""])
def test_package_ids_are_checked(tmp_path, folder, package):
    proc, calls = push(tmp_path, str(folder), "--package", package)
    assert_one_line_error(proc, 2, "is not an Android application id")
    assert calls == [] and not list((tmp_path / "device-cwd").iterdir())


def test_missing_adb_names_the_fix(tmp_path, folder):
    proc, calls = push(tmp_path, str(folder), adb=False)
    assert_one_line_error(proc, 2, "adb not found: install it (`apt-get install adb`")


def test_no_device_names_the_fix(tmp_path, folder):
    proc, calls = push(tmp_path, str(folder), devices=None)
    assert_one_line_error(proc, 2, "no Android device connected: plug one in with USB debugging on")
    assert calls == ["devices"]


def test_unauthorized_device_says_to_accept_the_prompt(tmp_path, folder):
    proc, _ = push(tmp_path, str(folder), devices="R58M123\tunauthorized")
    assert_one_line_error(proc, 2, "device R58M123 is unauthorized: accept the USB debugging prompt")


def test_several_devices_need_a_serial(tmp_path, folder):
    devices = "emulator-5554\tdevice\\nR58M123\tdevice"
    proc, _ = push(tmp_path, str(folder), devices=devices)
    assert_one_line_error(proc, 2, "2 devices connected (emulator-5554, R58M123): pick one with --serial")
    proc, calls = push(tmp_path, str(folder), "--serial", "R58M123", devices=devices)
    assert proc.returncode == 0, proc.stderr
    assert calls[-1].startswith("-s R58M123 shell rm -rf")
    assert (on_phone(tmp_path) / "tiny-int4-pte").is_dir()
    proc, _ = push(tmp_path, str(folder), "--serial", "nope", devices=devices)
    assert_one_line_error(proc, 2, "device nope is not connected (connected: emulator-5554, R58M123)")


def test_bad_folders_are_refused_before_adb_runs(tmp_path, folder):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc, calls = push(tmp_path, str(empty))
    assert_one_line_error(proc, 2, "has no manifest.json: pass a folder made by `edgereason export`")
    assert calls == []
    (folder / "model.pte").write_bytes(b"\x01program" * 100)  # same size, other bytes
    proc, calls = push(tmp_path, str(folder))
    assert_one_line_error(proc, 2, "model.pte fails its sha256 check")
    assert calls == []
    proc, calls = push(tmp_path, str(folder), "--no-verify-sha256")
    assert proc.returncode == 0, proc.stderr  # sizes only, as asked


def test_a_failed_copy_shows_adbs_reason(tmp_path, folder):
    proc, calls = push(tmp_path, str(folder), push_error="adb: error: failed to copy: No space left on device")
    assert_one_line_error(proc, 1, "adb push of tiny-int4-pte failed (adb exit 1: adb: error: failed to copy: No "
                                   "space left on device)")
    assert not any(" mv " in call for call in calls)  # the old copy on the phone stays as it was


def test_android_demo_jvm_tests(tmp_path):
    """The plain-Java core against the golden vectors (and the SmolLM2 tokenizer when it is already cached)."""
    if shutil.which("javac") is None or not Path("/usr/share/java/junit4.jar").is_file():
        pytest.skip("javac or Debian's junit4 is not installed (android_demo/ci.sh installs them)")
    tokenizer = cache.models_dir() / "smollm2-135m" / "tokenizer.json"
    proc = subprocess.run([str(REPO / "android_demo" / "scripts" / "test_core.sh"),
                           str(tokenizer) if tokenizer.is_file() else ""], capture_output=True, text=True,
                          env={**os.environ, "BUILD_DIR": str(tmp_path)}, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "OK (" in proc.stdout
