// Early-exit policies (runtime/policies.py): asked with each step; a true verdict ends the trace.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "answers.h"
#include "generate.h"
#include "spec.h"

namespace edgereason {

class Tokenizer;

// DeepConf online: abort when the sliding-window group confidence falls below a threshold.
struct GroupConfidenceAbort {
  double threshold;
  bool operator()(std::optional<double> group_conf) const { return group_conf && *group_conf < threshold; }
};

// Abandon a trace at its first false arithmetic statement (runtime/policies.py ArithmeticAbort): in check mode
// the trace's own arithmetic says it is wrong; in compute mode, the first result the model was about to write wrong.
bool arith_abort(const ArithmeticChecker& checker);

// The line states its final answer ("... the answer is 42."): nothing after it can change it.
bool states_answer(const std::string& line);

// Defaults: the compiled-in default solve spec's (settings.exit, answers), as runtime/policies.py takes them.
struct ProbeConfig {
  double threshold = default_spec().exit.probe_threshold;  // mean probability of the probed answer's tokens
  int patience = default_spec().exit.probe_patience;       // consecutive confident probes with the same answer
  int min_tokens = default_spec().exit.probe_min_tokens;   // no probe before this many generated tokens
  std::string probe_text = default_spec().probe_text;
  int max_answer_tokens = default_spec().max_answer_tokens;
  AnswerKind kind = AnswerKind::Math;
  int num_choices = max_choices();  // a choice answer is a letter of one of this many options
};

// DEER-style answer probe (runtime/policies.py AnswerProbe): at each newline, a line that states the
// answer ends the trace at no cost; otherwise (after min_tokens) the boundary token and the probe
// text are fed, an answer is read greedily, and the session is rewound. The trace ends once the
// answer is confident and the same at `patience` probes in a row.
class AnswerProbe {
 public:
  AnswerProbe(Session& session, const Tokenizer& tokenizer, std::vector<int> eos_ids, ProbeConfig config);
  // (stated_answer, settled_answer) for this step.
  std::pair<bool, bool> operator()(const Step& step);

  int num_probes = 0;
  int probe_tokens = 0;  // tokens the probes cost (prefill + decode), for honest savings accounting
  std::optional<std::string> settled_answer;
  double settled_conf = 0.0;

 private:
  std::pair<std::optional<std::string>, double> probe(int boundary_token);
  Session& session_;
  const Tokenizer& tokenizer_;
  std::vector<int> eos_ids_;
  ProbeConfig config_;
  std::vector<int64_t> probe_ids_;
  std::vector<int> line_;
  std::vector<std::string> streak_;
};

}  // namespace edgereason
