// The one sampler of DESIGN.md section 7, bit for bit the Python runtime's (runtime/sampling.py).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace edgereason {

// 64-bit PRNG with a one-word state: identical on every platform.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  double uniform();  // [0, 1) from the top 53 bits

 private:
  uint64_t state_;
};

struct SamplingConfig {
  double temperature = 0.0;  // 0 means greedy
  int top_k = 0;             // 0 keeps all
  double top_p = 1.0;        // 1.0 keeps all
  uint64_t seed = 0;

  // Empty when valid, else a message naming the flag, its range and the value received.
  std::string validate() const;
};

// Argmax, the lowest id on ties.
int greedy(const float* logits, size_t vocab_size);

// Greedy at temperature 0; otherwise candidates by (logit desc, id asc), top-k, softmax in
// float64, top-p, and a draw from its own SplitMix64 stream.
class Sampler {
 public:
  explicit Sampler(const SamplingConfig& config) : config_(config), rng_(config.seed) {}
  int operator()(const float* logits, size_t vocab_size);

 private:
  SamplingConfig config_;
  SplitMix64 rng_;
};

}  // namespace edgereason
