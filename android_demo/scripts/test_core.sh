#!/usr/bin/env bash
# Host-JVM tests of the plain-Java core (no Gradle, no Android): javac + JUnit 4 from Debian's junit4 package.
# Usage: scripts/test_core.sh [path/to/SmolLM2/tokenizer.json]   (without it the tokenizer-id tests are skipped)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$here/.." && pwd)"
junit=/usr/share/java/junit4.jar
hamcrest=/usr/share/java/hamcrest-core.jar
for jar in "$junit" "$hamcrest"; do
  [[ -f $jar ]] || { echo "error: $jar missing: apt-get install junit4" >&2; exit 2; }
done
out="${BUILD_DIR:-$here/.cache/build}/core-test"
rm -rf "$out" && mkdir -p "$out/main" "$out/test"
# --release 8: the core must stay within the Java 8 library that Android minSdk 24 provides.
javac --release 8 -Xlint:all,-options -Werror -d "$out/main" $(find "$here/core/src/main/java" -name '*.java')
# The JSON Schemas and the specs (the default solve spec, arithmetic, probes) shared with Python and C++, as classpath
# resources /edgereason/schemas/*.schema.json and /edgereason/specs/*.json (what core/build.gradle puts in the jar):
# taken from the repository, never kept in the Java tree.
mkdir -p "$out/main/edgereason/schemas" "$out/main/edgereason/specs"
cp "$repo"/edgereason/schemas/*.schema.json "$out/main/edgereason/schemas/"
cp "$repo"/edgereason/specs/*.json "$out/main/edgereason/specs/"
javac --release 8 -Xlint:all,-options -d "$out/test" -cp "$out/main:$junit" \
  $(find "$here/core/src/test/java" -name '*.java')
[[ -n ${1:-} ]] || echo "note: no tokenizer.json given: the tokenizer-id tests are skipped (JUnit counts them as run)"
tests=$(cd "$here/core/src/test/java" && find . -name '*Test.java' | sed 's|^\./||; s|\.java$||; s|/|.|g' | sort)
java -Dedgereason.golden="$repo/tests/golden" -Dedgereason.tokenizer="${1:-}" \
  -cp "$out/main:$out/test:$junit:$hamcrest" org.junit.runner.JUnitCore $tests
