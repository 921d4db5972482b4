// Early-exit policies (runtime/policies.py): asked with each step; a true verdict ends the trace.
#pragma once

#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace edgereason {

class Tokenizer;

// DeepConf online: abort when the sliding-window group confidence falls below a threshold.
struct GroupConfidenceAbort {
  double threshold;
  bool operator()(std::optional<double> group_conf) const { return group_conf && *group_conf < threshold; }
};

// The trace wrote its final answer on the line that just ended ("... the answer is 42."): nothing
// after it can change the answer, so the trace ends at no probe cost (AnswerProbe's first check).
class StatedAnswer {
 public:
  explicit StatedAnswer(const Tokenizer& tokenizer);
  bool operator()(int token);

 private:
  const Tokenizer& tokenizer_;
  std::vector<int> line_;
  std::regex stated_;
};

}  // namespace edgereason
