// The decision on a decoded trace (runtime/reason.py solve): the answer, the features in the spec's order, the hidden-
// state probes' features, P(correct) from the spec's calibrator (or the raw confidence without one), P(IK), and
// accept / escalate with Python's reasons. The runner decodes one trace: this is a greedy or early-exit solve, or a
// vote of one trace.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "answers.h"
#include "arith.h"
#include "calibrator.h"
#include "generate.h"
#include "signals.h"
#include "spec.h"

namespace edgereason {

class Tokenizer;

// One decoded trace, as runtime/reason.py _trace has it.
struct Trace {
  std::vector<Step> steps;  // with their hidden states when the calibrator has probes
  TraceConfidence::Summary confidence;
  ArithFeatures arithmetic;  // the defaults with the calculator off (NO_ARITHMETIC)
  std::optional<std::string> abort_reason;  // "low confidence" or "a false statement (...)": the trace has no answer
  std::optional<std::string> settled_answer;  // the answer probe's, when it settled the trace
  double settled_conf = 0.0;
};

// runtime/reason.py SolveResult's decision fields (the summary's keys are these names).
struct Solve {
  std::optional<std::string> answer;
  double p_correct = 0.0;
  bool calibrated = false;
  std::string decision;  // "accept" | "escalate"
  std::vector<std::string> reasons;
  Features features;  // empty when routed
  std::optional<double> p_ik;
  bool routed = false;
};

// Route before decoding (settings.route_before_decode): the escalation when P(IK) is below the calibrator's route
// threshold, else nullopt.
std::optional<Solve> route(const SolveSpec& spec, std::optional<double> p_ik);

// The solve of one trace: its answer (`kind`, a letter of `num_choices` options), features, P(correct), decision.
// Throws UsageError when the calibrator's probes find no hidden state of their width.
Solve decide(const Trace& trace, const Tokenizer& tokenizer, AnswerKind kind, int num_choices, const SolveSpec& spec,
             std::optional<double> p_ik);

// A multiple-choice question answered by its options' likelihood (runtime/reason.py _score, settings.strategy
// score): each option's continuation (spec.scoring) scored after `context` (log-softmax in double, the cache rewound
// to the context between options), the highest normalized score the answer, the softmax over the scores its
// probability (P(correct) without a calibrator), the calibrator's features in the trace features' slots, the prompt
// state the context's last token's and the answer state the one after the whole chosen option. `choices` as the
// runner is given them (an "A. " prefix is dropped). The session is left holding the context.
Solve score(Session& session, const Tokenizer& tokenizer, const std::vector<int64_t>& context,
            const std::vector<std::string>& choices, const SolveSpec& spec, std::optional<double> p_ik);

// Indices of the model's own steps that wrote the answer's last occurrence in the decoded trace, else its last own
// steps (runtime/reason.py _answer_span); empty without an answer.
std::vector<size_t> answer_span(const Tokenizer& tokenizer, const std::vector<Step>& steps,
                                const std::optional<std::string>& answer);

// The element-wise mean of the hidden states of `steps` at `indices`, those without one left out (empty: none), in
// float32 summed in order, as numpy averages float32 rows (runtime/reason.py _mean_state), then widened.
State mean_state(const std::vector<Step>& steps, const std::vector<size_t>& indices);

}  // namespace edgereason
