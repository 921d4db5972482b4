// The one decode loop (runtime/generate.py): prefill, then sample / signal / policy per step until
// eos, max tokens or an early exit; steps go to a callback as they are made. With a compute-mode
// calculator, a result the model was about to write otherwise is fed as tool steps.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "arith.h"
#include "backend.h"
#include "sampler.h"
#include "signals.h"

namespace edgereason {

// The early-exit verdicts asked of a step (runtime/policies.py); any true one ends the trace.
struct Verdicts {
  bool group_abort = false;     // DeepConf: the window's group confidence fell below the threshold
  bool arith_abort = false;     // the trace wrote a false arithmetic statement
  bool stated_answer = false;   // the line that just ended states the answer ("... the answer is 42.")
  bool settled_answer = false;  // the answer probe found the answer settled
  bool any() const { return group_abort || arith_abort || stated_answer || settled_answer; }
};

struct Step {
  int index;  // 0 for the first generated token
  int token_id;
  StepSignals signals;
  std::optional<double> group_conf;  // once the window is full
  double elapsed_ms;                 // from the start of prefill; the first step's is the TTFT
  Verdicts verdicts;
  std::string finish_reason;         // "", "stop", "length" or "early_exit"
  bool tool = false;  // written by the calculator: kToolSignals, no group_conf, no verdicts
  // The backend's hidden state that predicted this token (the first step's is the last prompt token's), when
  // GenerateOptions::hidden asks for it; empty for a tool step.
  std::vector<float> hidden;
};

// The signals a tool step carries: the calculator wrote it, so it says nothing of the model's confidence.
constexpr StepSignals kToolSignals{0.0, 1.0, 1.0, 0.0, 0.0};

using ExitPolicy = std::function<Verdicts(const Step&)>;

struct GenerateOptions {
  int max_new_tokens = 256;
  std::vector<int> stop_ids;
  ExitPolicy exit_policy;  // may be empty; it sees tool steps too, but its verdict on one is ignored
  ArithmeticChecker* arithmetic = nullptr;  // may be null: checks each statement; in compute mode, feeds results
  std::function<void(const std::vector<float>&)> on_logits;  // may be empty: sees the logits of each draw (tool steps have none)
  bool hidden = false;  // copy the backend's hidden state into each model step (the calibrator's probes read them)
};

struct Timings {
  double prefill_ms = 0.0, decode_ms = 0.0;
  int prompt_tokens = 0, generated_tokens = 0;
  int prefilled_tokens = 0;  // the prompt's tokens run: those after the prefix the cache already held
};

// Owns the tokens in a backend's cache and refuses to overflow its context.
class Session {
 public:
  Session(Backend& backend, int max_seq_len, int vocab_size) : backend_(backend), max_seq_len_(max_seq_len), vocab_(vocab_size) {}
  std::vector<float> prefill(const std::vector<int64_t>& tokens);
  // `prefill` a whole prompt, keeping the part the cache already holds; at least its last token is run, for the
  // logits of the next (runtime/backends/base.py prefill_reusing: the P(IK) probe's prompt, then the trace's).
  std::vector<float> prefill_reusing(const std::vector<int64_t>& tokens);
  size_t reusable(const std::vector<int64_t>& tokens) const;  // how many leading tokens prefill_reusing keeps
  std::vector<float> step(int token);
  int position() const { return static_cast<int>(tokens_.size()); }
  bool has_room(size_t num_new) const { return tokens_.size() + num_new <= static_cast<size_t>(max_seq_len_); }
  int room() const { return max_seq_len_ - position(); }
  // Forget everything after `position` (the answer probe's rewind): the caches are position-addressed.
  void rewind(int position);
  const std::vector<float>& hidden() const { return backend_.hidden(); }  // the latest forward's (Backend::hidden)

 private:
  void check_room(size_t num_new) const;
  std::vector<float> checked(std::vector<float> logits) const;
  Backend& backend_;
  int max_seq_len_, vocab_;
  std::vector<int64_t> tokens_;  // the cache's contents
};

// Runs the loop, the prompt prefilled reusing the session's cached prefix; `on_step` sees every step, the last one
// with its finish_reason set.
Timings generate(Session& session, const std::vector<int64_t>& prompt, Sampler& sampler, TraceConfidence& trace,
                 const GenerateOptions& options, const std::function<void(const Step&)>& on_step);

}  // namespace edgereason
