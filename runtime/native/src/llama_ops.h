// The two LLM custom-op kernels that export_llm programs call (llama_ops.cpp). Shared by the native
// runner and the Python runtime's `.pte` backend, so both compute the same numbers (DESIGN.md 6).
#pragma once

namespace edgereason {

// Makes llama::update_cache.out and llama::custom_sdpa.out run this file's kernels: registers them,
// or, where ExecuTorch's Python plugin registered its own already, points those entries here.
// Programs loaded afterwards use them. Throws std::runtime_error if registration fails.
void install_llama_ops();

}  // namespace edgereason

// For a dlopen()ed copy (runtime/backends/pte_kernels.py): 0 on success.
extern "C" int edgereason_install_llama_ops();
