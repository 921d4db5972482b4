#include "policies.h"

#include <algorithm>
#include <cmath>
#include <regex>

#include "tokenizer.h"

namespace edgereason {

bool states_answer(const std::string& line) {
  static const std::regex stated(R"(answer is\s*:?\s*\$?\s*-?\(?[0-9)" + letters() + "]", std::regex::icase);
  return std::regex_search(line, stated);
}

bool arith_abort(const ArithmeticChecker& checker) {
  return std::any_of(checker.statements.begin(), checker.statements.end(), [](const Statement& st) { return !st.right; });
}

AnswerProbe::AnswerProbe(Session& session, const Tokenizer& tokenizer, std::vector<int> eos_ids, ProbeConfig config)
    : session_(session), tokenizer_(tokenizer), eos_ids_(std::move(eos_ids)), config_(std::move(config)) {
  for (int id : tokenizer_.encode(config_.probe_text)) probe_ids_.push_back(id);
}

std::pair<bool, bool> AnswerProbe::operator()(const Step& step) {
  line_.push_back(step.token_id);
  if (tokenizer_.decode({step.token_id}).find('\n') == std::string::npos) return {false, false};
  const std::string line = tokenizer_.decode(line_);
  line_.clear();
  if (states_answer(line)) return {true, false};
  if (step.index + 1 < config_.min_tokens) return {false, false};
  const auto [answer, conf] = probe(step.token_id);
  if (!answer || conf < config_.threshold) {
    streak_.clear();
    return {false, false};
  }
  if (!streak_.empty() && !same_answer(streak_.back(), answer)) streak_.clear();
  streak_.push_back(*answer);
  if (static_cast<int>(streak_.size()) < config_.patience) return {false, false};
  settled_answer = answer;
  settled_conf = conf;
  return {false, true};
}

std::pair<std::optional<std::string>, double> AnswerProbe::probe(int boundary_token) {
  const int start = session_.position();
  ++num_probes;
  std::vector<int64_t> feed{boundary_token};
  feed.insert(feed.end(), probe_ids_.begin(), probe_ids_.end());
  if (!session_.has_room(feed.size())) return {std::nullopt, 0.0};  // the Python probe's ContextOverflowError
  std::vector<float> logits = session_.prefill(feed);
  probe_tokens += static_cast<int>(feed.size());
  std::vector<int> ids;
  double prob_sum = 0.0;
  for (int i = 0; i < config_.max_answer_tokens; ++i) {
    const int token = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    const std::string piece = tokenizer_.decode({token});
    if (std::find(eos_ids_.begin(), eos_ids_.end(), token) != eos_ids_.end() || piece.find('\n') != std::string::npos)
      break;
    const double peak = logits[token];
    double total = 0.0;
    for (float x : logits) total += std::exp(static_cast<double>(x) - peak);
    prob_sum += 1.0 / total;
    ids.push_back(token);
    const size_t last = piece.find_last_not_of(" \t\n\r\f\v");
    if (last != std::string::npos && piece[last] == '.') break;
    if (!session_.has_room(1)) {
      session_.rewind(start);
      return {std::nullopt, 0.0};
    }
    logits = session_.step(token);
    ++probe_tokens;
  }
  session_.rewind(start);
  const auto answer = extract(config_.probe_text + tokenizer_.decode(ids), config_.kind, config_.num_choices);
  return {answer, ids.empty() ? 0.0 : prob_sum / static_cast<double>(ids.size())};
}

}  // namespace edgereason
