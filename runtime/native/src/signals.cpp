#include "signals.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <numeric>

namespace edgereason {
namespace {

// e^x for -87 <= x <= 0 in float, ~2e-7 relative error, written so the compiler vectorizes the loop
// that calls it (libm's expf is a call per element: ~0.3 ms for a 49k vocabulary, the numpy
// reference ~0.03 ms). Range reduction x = n ln2 + r, |r| <= ln2/2, then a degree-6 polynomial.
inline float exp_reduced(float x) {
  // Round to nearest by adding and removing 1.5 * 2^23 (vectorizes, unlike nearbyintf on SSE2).
  const float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;  // ln2 split in two for accuracy
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// The k largest values, largest first: one pass that skips blocks whose maximum can't enter.
std::vector<float> top_values(const float* x, size_t n, size_t k) {
  std::vector<float> top(x, x + k);
  std::sort(top.begin(), top.end(), std::greater<float>());
  constexpr size_t kBlock = 16;
  auto offer = [&](float value) {
    if (value <= top.back()) return;
    auto at = std::upper_bound(top.begin(), top.end(), value, std::greater<float>());
    top.insert(at, value);
    top.pop_back();
  };
  size_t i = k;
  for (; i + kBlock <= n; i += kBlock) {
    float block_max = x[i];
    for (size_t j = 1; j < kBlock; ++j) block_max = std::max(block_max, x[i + j]);
    if (block_max <= top.back()) continue;
    for (size_t j = 0; j < kBlock; ++j) offer(x[i + j]);
  }
  for (; i < n; ++i) offer(x[i]);
  return top;
}

}  // namespace

StepSignals step_signals(const float* logits, size_t vocab_size, int token, int top_k) {
  const size_t k = std::min(static_cast<size_t>(std::max(top_k, 1)), vocab_size);
  const std::vector<float> top = top_values(logits, vocab_size, k);
  const float peak = top[0];
  const double second = k >= 2 ? top[1] : peak;  // as the reference: one top value gives a zero margin
  // x - peak, clamped at -87 (e^-87 ~ 1.6e-38 adds nothing to a sum >= 1; -inf logits become 0),
  // in its own pass: folded into the exp loop the clamp stops GCC from vectorizing it.
  thread_local std::vector<float> shifted;
  shifted.resize(vocab_size);
  for (size_t i = 0; i < vocab_size; ++i) {
    const float x = logits[i] - peak;
    shifted[i] = x < -87.0f ? -87.0f : x;
  }
  // Sums over independent double lanes, so the loop vectorizes without reassociating anything.
  constexpr size_t kLanes = 8;
  double total_lanes[kLanes] = {}, weighted_lanes[kLanes] = {};
  size_t i = 0;
  for (; i + kLanes <= vocab_size; i += kLanes)
    for (size_t l = 0; l < kLanes; ++l) {
      const float e = exp_reduced(shifted[i + l]);
      total_lanes[l] += e;
      weighted_lanes[l] += static_cast<double>(e) * logits[i + l];
    }
  double total = 0.0, weighted = 0.0;
  for (; i < vocab_size; ++i) {
    const float e = exp_reduced(shifted[i]);
    total += e;
    weighted += static_cast<double>(e) * logits[i];
  }
  for (size_t l = 0; l < kLanes; ++l) total += total_lanes[l], weighted += weighted_lanes[l];
  const double log_z = peak + std::log(total);
  const double entropy = log_z - weighted / total;
  const double p1 = std::exp(peak - log_z), p2 = std::exp(second - log_z);
  const double top_sum = std::accumulate(top.begin(), top.end(), 0.0);
  return StepSignals{static_cast<double>(logits[token]) - log_z, p1, p1 - p2, std::max(entropy, 0.0),
                     log_z - top_sum / static_cast<double>(k)};
}

std::optional<double> TraceConfidence::update(const StepSignals& signals) {
  token_confs_.push_back(signals.token_conf);
  logprobs_.push_back(signals.logprob);
  recent_.push_back(signals.token_conf);
  recent_sum_ += signals.token_conf;
  if (static_cast<int>(recent_.size()) > window_) {
    recent_sum_ -= recent_.front();
    recent_.pop_front();
  }
  if (static_cast<int>(recent_.size()) < window_) return std::nullopt;
  double group = recent_sum_ / window_;
  group_confs_.push_back(group);
  return group;
}

namespace {
double mean(const std::vector<double>& v, size_t from = 0) {
  return std::accumulate(v.begin() + from, v.end(), 0.0) / static_cast<double>(v.size() - from);
}
}  // namespace

TraceConfidence::Summary TraceConfidence::summary() const {
  std::vector<double> confs = token_confs_.empty() ? std::vector<double>{0.0} : token_confs_;
  std::vector<double> groups = group_confs_.empty() ? std::vector<double>{mean(confs)} : group_confs_;
  std::sort(groups.begin(), groups.end());
  std::vector<double> bottom(groups.begin(), groups.begin() + std::max<size_t>(1, groups.size() / 10));
  std::vector<double> logprobs = logprobs_.empty() ? std::vector<double>{0.0} : logprobs_;
  size_t tail_from = confs.size() > static_cast<size_t>(tail_) ? confs.size() - tail_ : 0;
  return Summary{mean(confs),    groups[0], mean(bottom), mean(confs, tail_from), mean(logprobs),
                 *std::min_element(logprobs.begin(), logprobs.end()), token_confs_.size()};
}

}  // namespace edgereason
