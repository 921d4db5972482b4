#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace edgereason {

uint64_t SplitMix64::next() {
  state_ += 0x9E3779B97F4A7C15ULL;
  uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double SplitMix64::uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

std::string SamplingConfig::validate() const {
  if (!(temperature >= 0.0 && std::isfinite(temperature)))
    return "--temperature must be a finite number >= 0, got " + std::to_string(temperature);
  if (top_k < 0) return "--top-k must be >= 0 (0 = off), got " + std::to_string(top_k);
  if (!(top_p > 0.0 && top_p <= 1.0)) return "--top-p must be in (0, 1], got " + std::to_string(top_p);
  return "";
}

int greedy(const float* logits, size_t vocab_size) {
  // The maximum over independent lanes (vectorizes), then the first index holding it: the lowest
  // id on ties, as np.argmax.
  constexpr size_t kLanes = 16;
  float lanes[kLanes];
  size_t i = 0;
  if (vocab_size >= kLanes) {
    std::copy(logits, logits + kLanes, lanes);
    for (i = kLanes; i + kLanes <= vocab_size; i += kLanes)
      for (size_t l = 0; l < kLanes; ++l) lanes[l] = lanes[l] < logits[i + l] ? logits[i + l] : lanes[l];
  }
  float peak = i ? lanes[0] : logits[0];
  for (size_t l = 1; i && l < kLanes; ++l) peak = std::max(peak, lanes[l]);
  for (; i < vocab_size; ++i) peak = std::max(peak, logits[i]);
  size_t best = 0;
  while (best < vocab_size && logits[best] != peak) ++best;
  return best < vocab_size ? static_cast<int>(best) : 0;  // all NaN: nothing to choose from
}

namespace {

// numpy's pairwise summation (what probs.sum() does), so the normalisation matches to the bit.
double pairwise_sum(const double* a, size_t n) {
  if (n < 8) {
    double res = 0.0;
    for (size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    size_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  size_t half = n / 2;
  half -= half % 8;
  return pairwise_sum(a, half) + pairwise_sum(a + half, n - half);
}

// Ids ordered by (logit desc, id asc), cut to the first top_k (0: all).
std::vector<int> candidates(const float* logits, size_t vocab_size, int top_k) {
  std::vector<int> ids(vocab_size);
  std::iota(ids.begin(), ids.end(), 0);
  auto before = [logits](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  if (top_k > 0 && static_cast<size_t>(top_k) < vocab_size) {
    std::partial_sort(ids.begin(), ids.begin() + top_k, ids.end(), before);
    ids.resize(top_k);
  } else {
    std::sort(ids.begin(), ids.end(), before);
  }
  return ids;
}

}  // namespace

int Sampler::operator()(const float* logits, size_t vocab_size) {
  if (config_.temperature == 0.0) return greedy(logits, vocab_size);
  std::vector<int> ids = candidates(logits, vocab_size, config_.top_k);
  size_t n = ids.size();
  std::vector<double> probs(n);
  double first = static_cast<double>(logits[ids[0]]) / config_.temperature;
  for (size_t i = 0; i < n; ++i) probs[i] = std::exp(static_cast<double>(logits[ids[i]]) / config_.temperature - first);
  double total = pairwise_sum(probs.data(), n);
  for (double& p : probs) p /= total;
  if (config_.top_p < 1.0) {
    // The smallest prefix whose cumulative probability reaches p (searchsorted, side left).
    double cumulative = 0.0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      cumulative += probs[i];
      if (cumulative >= config_.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
  }
  std::vector<double> cumulative(n);
  double running = 0.0;
  for (size_t i = 0; i < n; ++i) cumulative[i] = running += probs[i];
  double target = rng_.uniform() * cumulative[n - 1];
  // The first candidate whose cumulative mass exceeds the target (searchsorted, side right).
  size_t pick = std::upper_bound(cumulative.begin(), cumulative.end(), target) - cumulative.begin();
  return ids[std::min(pick, n - 1)];
}

}  // namespace edgereason
