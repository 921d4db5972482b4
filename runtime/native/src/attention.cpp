#include "attention.h"

#include <cmath>
#include <cstring>

namespace edgereason {
namespace {

// The arithmetic below is written so that it has one result everywhere: IEEE single operations
// only, no libm call, no fused multiply-add (built with -ffp-contract=off), and every reduction
// over independent lanes combined in a fixed order. The compiler vectorizes the lanes without
// reordering anything (it may not, without -ffast-math), so SSE, AVX and NEON builds agree bit for
// bit, and the Python runtime (which compiles this file too) agrees with the device.
constexpr int64_t kLanes = 8;

inline float combine(const float* lanes) {
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

inline float dot(const float* a, const float* b, int64_t n) {
  float lanes[kLanes] = {};
  const int64_t body = n - n % kLanes;
  for (int64_t d = 0; d < body; d += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] += a[d + l] * b[d + l];
  float sum = combine(lanes);
  for (int64_t d = body; d < n; ++d) sum += a[d] * b[d];
  return sum;
}

// e^x for x <= 0 (softmax arguments less their maximum): Cody-Waite reduction x = n ln2 + r and
// Cephes' degree-6 polynomial for e^r, within 2 ulp; below -87.3 it returns ~1e-38 instead of
// underflowing, which no softmax total (>= 1) can see. Branch-free, so the loop over it vectorizes.
inline float exp_nonpositive(float x) {
  x = x < -87.3f ? -87.3f : x;
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to the nearest integer
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = (p * (r * r) + r) + 1.0f;
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

// Each head's arithmetic is the same as alone; grouping only reads each K and V row once for all G
// heads (decoding is bound by reading the cache). kD = 0: any head size, given in D.

template <int64_t kD>
void attend_group(const float* q, const float* k, const float* v, int64_t stride, int64_t D_, int64_t G, int64_t seen,
                  float scale, float* scores, float* out) {
  const int64_t D = kD ? kD : D_;
  float peak[kMaxGroup], inverse[kMaxGroup];
  for (int64_t g = 0; g < G; ++g) peak[g] = -INFINITY;
  for (int64_t j = 0; j < seen; ++j) {
    const float* row = k + j * stride;
    for (int64_t g = 0; g < G; ++g) {
      const float x = dot(q + g * D, row, D) * scale;
      scores[g * seen + j] = x;
      peak[g] = x > peak[g] ? x : peak[g];
    }
  }
  for (int64_t g = 0; g < G; ++g) {
    float* sg = scores + g * seen;
    for (int64_t j = 0; j < seen; ++j) sg[j] = exp_nonpositive(sg[j] - peak[g]);
    float lanes[kLanes] = {};
    int64_t j = 0;
    for (; j + kLanes <= seen; j += kLanes)
      for (int64_t l = 0; l < kLanes; ++l) lanes[l] += sg[j + l];
    float total = combine(lanes);
    for (; j < seen; ++j) total += sg[j];
    inverse[g] = 1.0f / total;
  }
  float acc[kMaxGroup][kD ? kD : kMaxHeadSize] = {};
  for (int64_t j = 0; j < seen; ++j) {
    const float* row = v + j * stride;
    for (int64_t g = 0; g < G; ++g) {
      const float w = scores[g * seen + j] * inverse[g];
      for (int64_t d = 0; d < D; ++d) acc[g][d] += w * row[d];
    }
  }
  for (int64_t g = 0; g < G; ++g) std::memcpy(out + g * D, acc[g], static_cast<size_t>(D) * sizeof(float));
}

}  // namespace

// The common head sizes as compile-time constants, so the accumulators stay in registers; the x86
// build carries an AVX2 copy picked at load time (same results, see above).
#if defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx2", "default")))
#endif
void attend(const float* q, const float* k, const float* v, int64_t stride, int64_t D, int64_t G, int64_t seen,
            float scale, float* scores, float* out) {
  switch (D) {
    case 64: return attend_group<64>(q, k, v, stride, D, G, seen, scale, scores, out);
    case 128: return attend_group<128>(q, k, v, stride, D, G, seen, scale, scores, out);
    default: return attend_group<0>(q, k, v, stride, D, G, seen, scale, scores, out);
  }
}

}  // namespace edgereason
