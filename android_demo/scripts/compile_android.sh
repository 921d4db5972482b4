#!/usr/bin/env bash
# Compile-check the Android app here, without Gradle or an Android SDK: javac against
#   - android.jar (API 23, Debian's libandroid-23-java: stricter than minSdk 24, so the check errs on the safe side),
#   - ONNX Runtime's Android classes (classes.jar of its AAR) and ExecuTorch's Android classes (classes.jar),
# with the core module's sources. Usage: scripts/compile_android.sh ANDROID_JAR ORT_CLASSES_JAR ET_CLASSES_JAR
# Then, if Debian's aapt is installed, the AndroidManifest.xml is linked against android.jar (checks its attributes
# and @android: references). This proves the app compiles against the real APIs; it does not dex, package an
# installable APK, or run anything.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
if [[ $# -ne 3 ]]; then
  echo "usage: $0 ANDROID_JAR ORT_CLASSES_JAR ET_CLASSES_JAR (ci.sh downloads them)" >&2
  exit 2
fi
for jar in "$@"; do
  [[ -f $jar ]] || { echo "error: $jar not found: run android_demo/ci.sh, which fetches it" >&2; exit 2; }
done
android_jar=$1 ort_jar=$2 et_jar=$3
build="${BUILD_DIR:-$here/.cache/build}"
out="$build/android-classes"
rm -rf "$out" && mkdir -p "$out"
# javac needs java.lang.invoke to compile lambdas, which android.jar lacks (D8 desugars lambdas away, so the phone
# never needs it): take the JDK's own java.lang.invoke classes, and nothing else, from its runtime image.
jdk="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"
invoke="$build/jdk-invoke"
if [[ ! -d $invoke/java.base ]]; then
  rm -rf "$invoke" && mkdir -p "$invoke"
  "$jdk/bin/jimage" extract --dir "$invoke" --include 'regex:/java.base/java/lang/invoke/.*' "$jdk/lib/modules"
fi
# -bootclasspath android.jar first: java.* and android.* resolve to what the phone has, not to the host JDK.
javac -source 8 -target 8 -bootclasspath "$android_jar:$invoke/java.base" -Xlint:all,-options,-classfile -Werror \
  -encoding UTF-8 \
  -cp "$ort_jar:$et_jar" -d "$out" \
  $(find "$here/core/src/main/java" "$here/app/src/main/java" -name '*.java')
# The schemas and specs travel as Java resources next to the classes, as core/build.gradle packages them into the APK.
mkdir -p "$out/edgereason/schemas" "$out/edgereason/specs"
cp "$here"/../edgereason/schemas/*.schema.json "$out/edgereason/schemas/"
cp "$here"/../edgereason/specs/*.json "$out/edgereason/specs/"
echo "android compile check: $(find "$out" -name '*.class' | wc -l) classes compiled against $(basename "$android_jar")"
if command -v aapt >/dev/null; then
  # AGP writes the package attribute from `namespace`; do the same for this check.
  namespace=$(sed -n 's/^ *namespace "\(.*\)"/\1/p' "$here/app/build.gradle")
  mkdir -p "$build/manifest"
  sed "s|<manifest \(xmlns:android=\"[^\"]*\"\)>|<manifest \1 package=\"$namespace\">|" \
    "$here/app/src/main/AndroidManifest.xml" > "$build/manifest/AndroidManifest.xml"
  aapt package -f -M "$build/manifest/AndroidManifest.xml" -I "$android_jar" --min-sdk-version 24 \
    -F "$build/manifest/resources.ap_"
  echo "android manifest check: AndroidManifest.xml links against $(basename "$android_jar") (package $namespace)"
else
  echo "android manifest check skipped: aapt not installed (apt-get install aapt)"
fi
