// ONNX Runtime (C API) on the GenAI builder's graph, with our own loop, IO binding and one shared
// KV buffer per layer, as runtime/backends/onnx.py runs it.
#pragma once

#include <memory>

#include "backend.h"

namespace edgereason {

std::unique_ptr<Backend> make_onnx_backend(const Manifest& manifest, int num_threads);

}  // namespace edgereason
