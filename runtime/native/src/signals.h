// Confidence signals (DESIGN.md section 7, runtime/confidence.py): per step from the raw logits,
// before temperature and top-k/top-p, and per trace from the steps.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <vector>

namespace edgereason {

constexpr int kDefaultSignalTopK = 20;
constexpr int kDefaultWindow = 32;
constexpr int kDefaultTail = 32;

struct StepSignals {
  double logprob;     // of the chosen token
  double top1_prob;
  double margin;      // p(top-1) - p(top-2)
  double entropy;     // nats
  double token_conf;  // DeepConf: log Z - mean of the top-k logits
};

StepSignals step_signals(const float* logits, size_t vocab_size, int token, int top_k = kDefaultSignalTopK);

// Running per-trace statistics, updated once per step in O(1).
class TraceConfidence {
 public:
  explicit TraceConfidence(int window = kDefaultWindow, int tail = kDefaultTail) : window_(window), tail_(tail) {}

  // Adds a step; the group confidence once `window` steps are in.
  std::optional<double> update(const StepSignals& signals);

  struct Summary {
    double mean_conf, lowest_group_conf, bottom10_group_conf, tail_conf, mean_logprob, min_logprob;
    size_t num_tokens;
  };
  Summary summary() const;

 private:
  int window_, tail_;
  std::deque<double> recent_;
  double recent_sum_ = 0.0;
  std::vector<double> token_confs_, group_confs_, logprobs_;
};

}  // namespace edgereason
