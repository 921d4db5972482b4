"""`edgereason android push`: sideload an artifact folder into the Android demo app (android_demo/).

The folder's manifest and checksums are verified here first, so a copy that is already broken on the computer
never reaches the phone. The folder lands in the app's own external files folder, which `adb` may write and the
app may read on every Android version without a storage permission. It is pushed under a hidden name and renamed
into place, so the app never lists a half-copied folder.
"""

import re
import secrets
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from edgereason import artifact
from edgereason.cli import app, handle_errors, mib, out
from edgereason.errors import EdgeReasonError, UsageError

APP_PACKAGE = "org.edgereason.demo"  # android_demo/app/build.gradle applicationId
ADB_TIMEOUT_S = 3600  # a 600 MB fp32 artifact over USB 2 takes minutes

android_app = typer.Typer(help="The Android demo app (android_demo/).", no_args_is_help=True)
app.add_typer(android_app, name="android")


@dataclass(frozen=True)
class PushResult:
    serial: str
    remote: str
    num_bytes: int
    seconds: float


def device_folder(package: str) -> str:
    """Where the app looks for artifact folders (its external files dir + /artifacts)."""
    return f"/sdcard/Android/data/{package}/files/artifacts"


def find_adb() -> str:
    path = shutil.which("adb")
    if path is None:
        raise UsageError("adb not found: install it (`apt-get install adb`, or Android SDK platform-tools) and put "
                         "it on PATH")
    return path


def _adb(adb: str, serial: str | None, *args: str) -> subprocess.CompletedProcess:
    cmd = [adb, *(["-s", serial] if serial else []), *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=ADB_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise EdgeReasonError(f"`adb {' '.join(args[:2])}` did not finish in {ADB_TIMEOUT_S} s: reconnect the "
                              "device and run the command again") from e


def _check(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise EdgeReasonError(f"{what} failed (adb exit {result.returncode}: {detail}): check the cable and free "
                              "space on the phone (`adb shell df /sdcard`), then run the command again")


def pick_device(adb: str, serial: str | None) -> str:
    """The one ready device (or `serial`); a usage error naming the fix for none, several or unauthorized ones."""
    result = _adb(adb, None, "devices")
    _check(result, "adb devices")
    states = {}
    for line in result.stdout.splitlines()[1:]:  # first line: "List of devices attached"
        parts = line.split()
        if len(parts) >= 2:
            states[parts[0]] = parts[1]
    if serial is not None:
        if serial not in states:
            raise UsageError(f"device {serial} is not connected (connected: {', '.join(states) or 'none'}): check "
                             "`adb devices` and pass one of those to --serial")
        candidates = {serial: states[serial]}
    else:
        candidates = states
    if not candidates:
        raise UsageError("no Android device connected: plug one in with USB debugging on (Settings > Developer "
                         "options), accept its prompt, and check `adb devices`")
    not_ready = {s: state for s, state in candidates.items() if state != "device"}
    if not_ready:
        s, state = next(iter(not_ready.items()))
        fix = ("accept the USB debugging prompt on the phone" if state == "unauthorized"
               else "reconnect it or run `adb kill-server`")
        raise UsageError(f"device {s} is {state}: {fix}, then run the command again")
    if len(candidates) > 1:
        raise UsageError(f"{len(candidates)} devices connected ({', '.join(candidates)}): pick one with --serial")
    return next(iter(candidates))


# Java's package grammar as Android applies it to an application id: two or more dot-separated parts, each a
# letter then letters, digits or underscores. Nothing else can be an installed app, so nothing else reaches adb.
PACKAGE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+")
# The name the folder gets on the phone: the manifest schema's rule for one part of a file name.
FOLDER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


def check_names(folder: Path, package: str) -> None:
    """Refuse, before adb runs, a package id or folder name that could not be a plain path on the phone."""
    if not PACKAGE_ID.fullmatch(package):
        raise UsageError(f"--package {package!r} is not an Android application id (e.g. {APP_PACKAGE}): pass the "
                         "demo app's id")
    if not FOLDER_NAME.fullmatch(folder.name):
        raise UsageError(f"the folder name {folder.name!r} has characters the app can't list (use letters, digits, "
                         "'.', '_' and '-'): rename the folder, e.g. to its manifest's name")


def push_artifact(folder: Path, *, serial: str | None = None, package: str = APP_PACKAGE,
                  verify_sha256: bool = True) -> PushResult:
    """Verify `folder`, then copy it into the app's artifacts folder on the device, replacing an older copy.

    The device's shell only ever sees paths built from a checked package id, a checked folder name and a
    generated staging name, each quoted with shlex.quote as well.

    Raises:
        UsageError: not an artifact folder, a checksum mismatch, a bad package id or folder name, no adb, no
            (or no single) ready device.
        EdgeReasonError: adb failed while copying.
    """
    folder = Path(folder).resolve()
    check_names(folder, package)
    manifest = artifact.read_manifest(folder, verify_sha256=verify_sha256)
    adb = find_adb()
    device = pick_device(adb, serial)
    parent = device_folder(package)
    remote = f"{parent}/{folder.name}"
    partial = f"{parent}/.push-{secrets.token_hex(8)}.partial"
    q = shlex.quote
    start = time.perf_counter()
    _check(_adb(adb, device, "shell", f"mkdir -p {q(parent)}"), "preparing the device folder")
    _check(_adb(adb, device, "push", str(folder), partial), f"adb push of {folder.name}")
    _check(_adb(adb, device, "shell", f"rm -rf {q(remote)} && mv {q(partial)} {q(remote)}"),
           "moving the copy into place")
    num_bytes = sum(entry.bytes for entry in manifest.files.values())
    return PushResult(serial=device, remote=remote, num_bytes=num_bytes, seconds=time.perf_counter() - start)


@android_app.command("push")
@handle_errors
def push(
    folder: Annotated[Path, typer.Argument(help="An artifact folder made by `edgereason export`")],
    serial: Annotated[str | None, typer.Option(help="Device serial from `adb devices` (when several)")] = None,
    package: Annotated[str, typer.Option(help="Application id of the installed demo app")] = APP_PACKAGE,
    verify_sha256: Annotated[bool, typer.Option(help="Check every file's sha256 before pushing")] = True,
) -> None:
    """Copy an artifact folder to the phone for the EdgeReason demo app (checks the folder and the device first)."""
    result = push_artifact(folder, serial=serial, package=package, verify_sha256=verify_sha256)
    out.print(f"pushed {folder.name} ({mib(result.num_bytes)} MiB) to {result.serial}:{result.remote} in "
              f"{result.seconds:.1f} s; open EdgeReason on the phone and tap it")
