#!/usr/bin/env bash
# The llama.cpp peer for `edgereason bench speed`: build llama-cpp-python from source once (~5-25
# minutes on 2 cores; no prebuilt CPU wheel on PyPI), keep the wheel in $EDGEREASON_HOME/wheels,
# and install it into the active environment. Later runs, and other environments, reuse the wheel.
# Same as `pip install -e ".[peers]"`, minus the examples, tools and tests the bench doesn't need.
set -euo pipefail
version=0.3.36  # keep in step with the [peers] extra in pyproject.toml
wheels="${EDGEREASON_HOME:-$HOME/.cache/edgereason}/wheels"
mkdir -p "$wheels"
shopt -s nullglob
built=("$wheels"/llama_cpp_python-"$version"-*.whl)
if [ ${#built[@]} -eq 0 ]; then
  echo "building llama-cpp-python $version (once; the wheel goes to $wheels)" >&2
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
  CMAKE_ARGS="${CMAKE_ARGS:-} -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF" \
    python -m pip wheel --no-deps "llama-cpp-python==$version" -w "$wheels"
  built=("$wheels"/llama_cpp_python-"$version"-*.whl)
fi
python -m pip install --no-deps "${built[0]}"
python -m pip install diskcache jinja2 typing-extensions  # its runtime dependencies (numpy is already here)
python -c "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__, 'ready')"
