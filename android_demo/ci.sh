#!/usr/bin/env bash
# CI for the Android demo, no Gradle / SDK / device needed:
#   1. host-JVM JUnit tests of the plain-Java core against the golden vectors (tests/golden) and the SmolLM2
#      tokenizer.json (materialized through the active edgereason venv, if there is one),
#   2. a javac compile check of core + app against android.jar (API 23) and the real ONNX Runtime and ExecuTorch
#      Android classes, and an aapt link of AndroidManifest.xml against android.jar.
# Downloads (cached in $ANDROID_DEMO_CACHE, default android_demo/.cache, git-ignored):
#   a JDK, junit4 and aapt (apt, when missing), libandroid-23-java .deb (Debian bullseye: bookworm has no
#   android.jar package),
#   npm com.github.asus4.onnxruntime@0.4.9 (official ORT 1.29.0 Android AAR), react-native-executorch@0.9.3
#   (ExecuTorch's Android classes.jar).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${ANDROID_DEMO_CACHE:-$here/.cache}"
mkdir -p "$cache"
start=$(date +%s)

# --- tools ---
missing=()
command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)
[[ -f /usr/share/java/junit4.jar ]] || missing+=(junit4)
command -v aapt >/dev/null || missing+=(aapt)
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get -y -qq install "${missing[@]}" >/dev/null
  elif ! command -v javac >/dev/null || [[ ! -f /usr/share/java/junit4.jar ]]; then
    echo "error: ${missing[*]} missing: run 'sudo apt-get install ${missing[*]}'" >&2
    exit 2
  fi  # without aapt only the manifest check is skipped (compile_android.sh says so)
fi

# --- android.jar from Debian's libandroid-23-java (verified against the bullseye Packages index) ---
deb="libandroid-23-java_6.0.1+r72-6_all.deb"
deb_sha256=8af1b6df556971dda0a6da3536ea526a838e0c363afcdd454213d8bce94793e3
android_jar="$cache/android-23/usr/share/java/com.android.android-23.jar"
if [[ ! -f $android_jar ]]; then
  curl -sSfL --retry 3 -o "$cache/$deb" "http://deb.debian.org/debian/pool/main/a/android-framework-23/$deb"
  echo "$deb_sha256  $cache/$deb" | sha256sum -c --quiet
  dpkg-deb -x "$cache/$deb" "$cache/android-23"
  rm -f "$cache/$deb"
fi

# --- the two Android libraries' Java classes, from npm (npm pack checks the registry's integrity hash) ---
ort_jar="$cache/onnxruntime-android/classes.jar"
et_jar="$cache/executorch-android/classes.jar"
if [[ ! -f $ort_jar || ! -f $et_jar ]] && ! command -v npm >/dev/null; then
  echo "error: npm missing (it fetches the ONNX Runtime and ExecuTorch Android classes): apt-get install npm" >&2
  exit 2
fi
if [[ ! -f $ort_jar ]]; then
  mkdir -p "$cache/onnxruntime-android"
  (cd "$cache" && npm pack --silent com.github.asus4.onnxruntime@0.4.9 >/dev/null)
  tar -xzf "$cache/com.github.asus4.onnxruntime-0.4.9.tgz" -C "$cache/onnxruntime-android" --strip-components=3 \
    package/Plugins/Android/onnxruntime.aar
  unzip -q -o "$cache/onnxruntime-android/onnxruntime.aar" classes.jar -d "$cache/onnxruntime-android"
  rm -f "$cache/com.github.asus4.onnxruntime-0.4.9.tgz" "$cache/onnxruntime-android/onnxruntime.aar"
fi
if [[ ! -f $et_jar ]]; then
  mkdir -p "$cache/executorch-android"
  (cd "$cache" && npm pack --silent react-native-executorch@0.9.3 >/dev/null)
  tar -xzf "$cache/react-native-executorch-0.9.3.tgz" -C "$cache/executorch-android" --strip-components=3 \
    package/android/libs/classes.jar
  rm -f "$cache/react-native-executorch-0.9.3.tgz"
fi
echo "android_demo setup: $(( $(date +%s) - start )) s"

# --- SmolLM2's tokenizer.json for the tokenizer-id tests (the built-in model, through the active venv) ---
tokenizer="${EDGEREASON_TOKENIZER:-}"
if [[ -z $tokenizer ]] && python -c "import edgereason" 2>/dev/null; then
  folder=$(python -c "from edgereason import models; from edgereason.export.hf import normalize; \
print(normalize(models.resolve('smollm2-135m')))" | tail -n 1)
  tokenizer="$folder/tokenizer.json"
fi
if [[ -z $tokenizer ]]; then
  echo "warning: no edgereason venv and no EDGEREASON_TOKENIZER: the tokenizer-id tests are skipped" >&2
fi

export BUILD_DIR="$cache/build"
nice -n 10 "$here/scripts/test_core.sh" "$tokenizer"
nice -n 10 "$here/scripts/compile_android.sh" "$android_jar" "$ort_jar" "$et_jar"
echo "android_demo total: $(( $(date +%s) - start )) s"
