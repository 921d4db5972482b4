#!/usr/bin/env bash
# CI for the native runner, before the test run: install the toolchains and build edgereason-run for
# x86_64 and aarch64 (the aarch64 one against the aarch64 ExecuTorch / ONNX Runtime wheels, fetched,
# never installed). The tests (tests/test_native.py: golden vectors, tokenizer, greedy parity with the
# Python runtime, aarch64 under qemu-aarch64-static, and bad input) then run inside .ci/run's pytest
# on the session's tiny-random exports, with EDGEREASON_NATIVE_REQUIRE=1 so a missing build fails.
#
# Expects what .ci/run sets up: the venv active with edgereason installed, EDGEREASON_HOME set.
# Exits non-zero on any failure. The built-in model's artifacts are checked by hand (README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
: "${EDGEREASON_HOME:?set EDGEREASON_HOME (as .ci/run does)}"

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
command -v g++ >/dev/null || need+=(g++)
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v npm >/dev/null || need+=(npm)
[ -f /usr/include/nlohmann/json.hpp ] || need+=(nlohmann-json3-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "native: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "native: toolchains ready: $(( $(date +%s) - start )) s"

for arch in x86_64 aarch64; do
  edgereason native build --arch "$arch" --jobs 2
done
echo "native: built: $(( $(date +%s) - start )) s"

echo "native: total $(( $(date +%s) - start )) s"
