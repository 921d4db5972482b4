// Scaled-dot-product attention over a KV cache with one result on every CPU (attention.cpp):
// the arithmetic the `llama::custom_sdpa` kernel (llama_ops.cpp) runs, apart from ExecuTorch so
// tests/attention_test.cpp can check that x86_64 and aarch64 builds compute the same bits.
#pragma once

#include <cstdint>

namespace edgereason {

constexpr int64_t kMaxGroup = 8, kMaxHeadSize = 256;

// One query row of the G (<= kMaxGroup) query heads that share a kv head, over `seen` cache rows:
// softmax(q k^T * scale) v per head. `k` and `v` point at the kv head's first cache row, rows
// `stride` floats apart; `q` and `out` hold the G heads' rows back to back (D <= kMaxHeadSize
// floats each); `scores` has room for G * seen values.
void attend(const float* q, const float* k, const float* v, int64_t stride, int64_t D, int64_t G, int64_t seen,
            float scale, float* scores, float* out);

}  // namespace edgereason
