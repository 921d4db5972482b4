#include "answers.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <vector>

namespace edgereason {
namespace {

// runtime/answers.py's patterns. Python's MULTILINE `^`/`$` are not needed: in `(?:^|\s)` a line
// start after the first is preceded by a newline, which `\s` matches, and `(?=$|\n)` names it.
const std::string kNumber = R"(-?\$?\s?\d[\d,]*(?:\.\d+)?)";
const std::regex kBoxed(R"(\\boxed\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\})");
const std::regex kHashes("####\\s*(" + kNumber + ")");
const std::regex kAnswerIs(R"(answer\s*(?:is|:|=)\s*:?\s*\**\s*()" + kNumber + ")", std::regex::icase);
const std::regex kAnyNumber(kNumber);
// The letter patterns are built from the spec's letters on first use (function statics: the letters are read
// from the compiled-in spec, not at static initialization).
const std::regex& choice_is() {
  static const std::regex r(R"(answer\s*(?:is|:)?\s*:?\s*\**\s*\(?([)" + letters() + R"(])\)?(?![A-Za-z]))",
                            std::regex::icase);
  return r;
}
const std::regex& lone_choice() {
  static const std::regex r(R"(\(([)" + letters() + R"(])\)|(?:^|\s)([)" + letters() + R"(])[).:]?[ \t]*(?=$|\n))");
  return r;
}
// Python's float() grammar for the strings the patterns above produce.
const std::regex kFloat(R"([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)");

// Python's findall: group `group` of every match; `alternative` is read where it is empty (the
// `a or b` of a two-group pattern).
std::vector<std::string> find_all(const std::regex& pattern, const std::string& text, int group, int alternative = -1) {
  std::vector<std::string> out;
  for (std::sregex_iterator it(text.begin(), text.end(), pattern), end; it != end; ++it) {
    std::string value = (*it)[group].str();
    if (value.empty() && alternative >= 0) value = (*it)[alternative].str();
    out.push_back(value);
  }
  return out;
}

std::string strip(const std::string& s) {
  const char* space = " \t\n\r\f\v";
  const size_t begin = s.find_first_not_of(space);
  return begin == std::string::npos ? "" : s.substr(begin, s.find_last_not_of(space) - begin + 1);
}

}  // namespace

std::optional<std::string> normalize_number(const std::string& text) {
  std::string cleaned;
  for (char c : text)
    if (c != ',' && c != '$' && c != ' ') cleaned += c;
  while (!cleaned.empty() && cleaned.back() == '.') cleaned.pop_back();
  cleaned = strip(cleaned);  // float() ignores surrounding whitespace
  if (!std::regex_match(cleaned, kFloat)) return std::nullopt;
  const double value = std::strtod(cleaned.c_str(), nullptr);
  char buffer[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15)
    std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(value));
  else
    std::snprintf(buffer, sizeof buffer, "%.6g", value);  // Python's f"{value:.6g}"
  return std::string(buffer);
}

std::optional<std::string> extract_math(const std::string& text) {
  const auto boxed = find_all(kBoxed, text, 1);
  if (!boxed.empty()) {
    const auto numbers = find_all(kAnyNumber, boxed.back(), 0);
    if (!numbers.empty()) return normalize_number(numbers.back());
  }
  for (const std::regex* pattern : {&kHashes, &kAnswerIs}) {
    const auto found = find_all(*pattern, text, 1);
    if (!found.empty()) return normalize_number(found.back());
  }
  const auto numbers = find_all(kAnyNumber, text, 0);
  if (numbers.empty()) return std::nullopt;
  return normalize_number(numbers.back());
}

std::optional<std::string> extract_choice(const std::string& text, int num_choices) {
  const std::string allowed = letters().substr(0, static_cast<size_t>(std::max(0, num_choices)));
  std::optional<std::string> last;
  for (std::string c : find_all(choice_is(), text, 1)) {
    for (char& ch : c) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (allowed.find(c) != std::string::npos) last = c;
  }
  if (last) return last;
  for (const std::string& c : find_all(lone_choice(), text, 1, 2))
    if (allowed.find(c) != std::string::npos) last = c;
  return last;
}

std::optional<std::string> extract(const std::string& text, AnswerKind kind, int num_choices) {
  return kind == AnswerKind::Math ? extract_math(text) : extract_choice(text, num_choices);
}

bool same_answer(const std::optional<std::string>& a, const std::optional<std::string>& b) {
  if (!a || !b) return false;
  if (*a == *b) return true;
  const auto na = normalize_number(*a), nb = normalize_number(*b);
  return na && nb && *na == *nb;
}

}  // namespace edgereason
