#include "policies.h"

#include "tokenizer.h"

namespace edgereason {

StatedAnswer::StatedAnswer(const Tokenizer& tokenizer)
    : tokenizer_(tokenizer), stated_(R"(answer is\s*:?\s*\$?\s*-?\(?[0-9A-E])", std::regex::icase) {}

bool StatedAnswer::operator()(int token) {
  line_.push_back(token);
  if (tokenizer_.decode({token}).find('\n') == std::string::npos) return false;
  std::string line = tokenizer_.decode(line_);
  line_.clear();
  return std::regex_search(line, stated_);
}

}  // namespace edgereason
