// Early-exit policies (runtime/policies.py): asked with each step; a true verdict ends the trace.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "answers.h"
#include "generate.h"

namespace edgereason {

class Tokenizer;

// DeepConf online: abort when the sliding-window group confidence falls below a threshold.
struct GroupConfidenceAbort {
  double threshold;
  bool operator()(std::optional<double> group_conf) const { return group_conf && *group_conf < threshold; }
};

// The line states its final answer ("... the answer is 42."): nothing after it can change it.
bool states_answer(const std::string& line);

struct ProbeConfig {
  double threshold = 0.9;  // mean probability of the probed answer's tokens that counts as settled
  int patience = 2;        // consecutive confident probes with the same answer
  int min_tokens = 32;     // no probe before this many generated tokens
  std::string probe_text = " So the answer is";
  int max_answer_tokens = 8;
  AnswerKind kind = AnswerKind::Math;
  int num_choices = kMaxChoices;  // a choice answer is a letter of one of this many options
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
