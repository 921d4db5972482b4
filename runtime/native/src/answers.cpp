#include "answers.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <regex>
#include <stdexcept>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace edgereason {
namespace {

// runtime/answers.py's patterns. Python's MULTILINE `^`/`$` are not needed: in `(?:^|\s)` a line
// start after the first is preceded by a newline, which `\s` matches, and `(?=$|\n)` names it.
const std::string kNumber = R"(-?\$?\s?\d[\d,]*(?:\.\d+)?)";
// A value as a trace writes it: a number's sign, $ and space, then the longer forms first (a mixed number, a
// fraction), then a plain number as kNumber reads it.
const std::string kValue = R"(-?\$?\s?(?:\d+ ?\\[dt]?frac\s*\{\s*\d+\s*\}\s*\{\s*\d+\s*\}|\d+ \d+/\d+)"
                           R"(|\\[dt]?frac\s*\{\s*-?\d+\s*\}\s*\{\s*\d+\s*\}|\d+/\d+|\d[\d,]*(?:\.\d+)?))";
const std::regex kHashes("####\\s*(" + kValue + ")");
const std::regex kAnswerIs(R"(answer\s*(?:is|:|=)\s*:?\s*\**\s*(?:\$|\\\(|\\\[)?\s*()" + kValue + ")",
                           std::regex::icase);
const std::regex kAnyValue(kValue);
const std::regex kWithUnit("(" + kValue + R"()\s+[A-Za-z]+)");
// The forms of one value, matched whole (after clean_latex: \dfrac is \frac, no $).
const std::regex kMixedTex(R"((-?)(\d+) ?\\frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\})");
const std::regex kMixed(R"((-?)(\d+) (\d+)/(\d+))");
const std::regex kFracTex(R"((-?)\\frac\s*\{\s*(-?)(\d+)\s*\}\s*\{\s*(\d+)\s*\})");
const std::regex kFrac(R"((-?)\s*(\d+)\s*/\s*(\d+))");
const std::regex kPlain(kNumber);
const char kBoxed[] = "\\boxed{";
const char* kSpace = " \t\n\r\f\v";
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

// edgereason/specs/answers.json, parsed once.
struct MathSpec {
  std::vector<std::string> unwrap, spaces, drop;
  std::vector<std::pair<std::string, std::string>> rename;
  size_t max_fraction_digits = 0;
  int min_word_letters = 0;
};

const MathSpec& math_spec() {
  static const MathSpec spec = [] {
    const auto data = nlohmann::ordered_json::parse(kAnswersSpec);
    MathSpec s;
    for (const auto& w : data.at("unwrap")) s.unwrap.push_back(w.get<std::string>());
    for (const auto& w : data.at("spaces")) s.spaces.push_back(w.get<std::string>());
    for (const auto& w : data.at("drop")) s.drop.push_back(w.get<std::string>());
    for (const auto& pair : data.at("rename"))
      s.rename.emplace_back(pair.at(0).get<std::string>(), pair.at(1).get<std::string>());
    s.max_fraction_digits = data.at("max_fraction_digits").get<size_t>();
    s.min_word_letters = data.at("min_word_letters").get<int>();
    if (s.max_fraction_digits > 7)  // whole * den + num must stay exact in a double (2^53) and in an int64
      throw std::logic_error("edgereason/specs/answers.json: max_fraction_digits beyond what a double holds exactly");
    return s;
  }();
  return spec;
}

bool is_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c != '\0' && std::strchr(kSpace, c) != nullptr; }

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
  const size_t begin = s.find_first_not_of(kSpace);
  return begin == std::string::npos ? "" : s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

// Every `word` replaced by `by`; a word ending in a letter only where no letter follows (\left, not \leftarrow).
std::string replace_word(const std::string& text, const std::string& word, const std::string& by) {
  const bool command = is_letter(word.back());
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t after = i + word.size();
    if (text.compare(i, word.size(), word) == 0 && !(command && after < text.size() && is_letter(text[after]))) {
      out += by;
      i = after;
    } else {
      out += text[i++];
    }
  }
  return out;
}

// Index of the `}` matching the `{` at `open_at` (\{ and \} are characters, not braces); npos if never closed.
size_t closing_brace(const std::string& text, size_t open_at) {
  int depth = 0;
  for (size_t i = open_at; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\') {
      ++i;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}' && --depth == 0) {
      return i;
    }
  }
  return std::string::npos;
}

std::string unwrap(std::string text, const std::string& command) {
  const std::string open = command + "{";
  size_t pos = 0, i;
  while ((i = text.find(open, pos)) != std::string::npos) {
    const size_t end = closing_brace(text, i + command.size());
    if (end == std::string::npos) {
      pos = i + 1;
      continue;
    }
    text = text.substr(0, i) + " " + text.substr(i + open.size(), end - i - open.size()) + " " + text.substr(end + 1);
    pos = i;  // the content may hold the same command again
  }
  return text;
}

// Lengths of the runs of ASCII letters outside command names (\frac, \pi are no letters).
std::vector<size_t> letter_runs(const std::string& text) {
  std::vector<size_t> runs;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '\\') {
      ++i;
      while (i < text.size() && is_letter(text[i])) ++i;
    } else if (is_letter(text[i])) {
      size_t j = i;
      while (j < text.size() && is_letter(text[j])) ++j;
      runs.push_back(j - i);
      i = j;
    } else {
      ++i;
    }
  }
  return runs;
}

// "x = 5" and "3+4 = 7" -> the right side; an equation in x ("x+1=5") or an inequality stays whole.
std::string right_side(const std::string& text) {
  if (text.find('=') == std::string::npos || text.find_first_of("<>!") != std::string::npos) return text;
  const std::string left = strip(text.substr(0, text.find('=')));
  if ((left.size() == 1 && is_letter(left[0])) || letter_runs(left).empty())
    return strip(text.substr(text.rfind('=') + 1));
  return text;
}

// Python's str(int(value)) for an integer below 1e15, else f"{value:.6g}" ("inf" for an overflow).
std::string format_number(double value) {
  char buffer[64];
  if (std::fabs(value) < 1e15 && value == std::floor(value))
    std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(value));
  else
    std::snprintf(buffer, sizeof buffer, "%.6g", value);
  return buffer;
}

// whole + numerator/denominator, signed, in lowest terms: the decimal if it ends, else "p/q".
std::optional<std::string> rational(bool negative, const std::string& whole, const std::string& numerator,
                                    const std::string& denominator) {
  const size_t max_digits = math_spec().max_fraction_digits;
  if (whole.size() > max_digits || numerator.size() > max_digits || denominator.size() > max_digits)
    return std::nullopt;
  long long d = std::stoll(denominator);
  if (d == 0) return std::nullopt;
  long long n = std::stoll(whole) * d + std::stoll(numerator);
  const long long g = std::gcd(n, d);
  n /= g;
  d /= g;
  if (negative) n = -n;
  long long rest = d;
  for (long long p : {2LL, 5LL})
    while (rest % p == 0) rest /= p;
  if (rest == 1) return format_number(static_cast<double>(n) / static_cast<double>(d));
  return std::to_string(n) + "/" + std::to_string(d);
}

// The canonical number of `text` if all of it is one value (a trailing % dropped); else nullopt.
std::optional<std::string> value_of(const std::string& text) {
  std::string t = strip(text);
  if (!t.empty() && t.back() == '%') t = strip(t.substr(0, t.size() - 1));
  std::smatch m;
  if (std::regex_match(t, m, kMixedTex) || std::regex_match(t, m, kMixed)) {
    const size_t max_digits = math_spec().max_fraction_digits;
    if (m[2].length() > static_cast<long>(max_digits) || m[3].length() > static_cast<long>(max_digits) ||
        m[4].length() > static_cast<long>(max_digits))
      return std::nullopt;
    if (std::stoll(m[3].str()) >= std::stoll(m[4].str())) return std::nullopt;  // "3 5/4" is not a mixed number
    return rational(m[1] == "-", m[2].str(), m[3].str(), m[4].str());
  }
  if (std::regex_match(t, m, kFracTex)) return rational((m[1] == "-") != (m[2] == "-"), "0", m[3].str(), m[4].str());
  if (std::regex_match(t, m, kFrac)) return rational(m[1] == "-", "0", m[2].str(), m[3].str());
  if (std::regex_match(t, kPlain) || std::regex_match(t, kFloat)) return normalize_number(t);
  return std::nullopt;
}

// Whitespace removed, except one space that keeps \pi r from becoming \pir or 1 2 from becoming 12.
std::string expression(const std::string& text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (!is_space(text[i])) {
      out += text[i++];
      continue;
    }
    while (i < text.size() && is_space(text[i])) ++i;
    if (out.empty() || i == text.size()) continue;
    const char next = text[i];
    size_t k = out.size();
    while (k > 0 && is_letter(out[k - 1])) --k;
    const bool command_end = k < out.size() && k > 0 && out[k - 1] == '\\';
    if ((is_letter(next) && command_end) || (is_digit(out.back()) && is_digit(next))) out += ' ';
  }
  return out;
}

// The right side of the last "x = .." on the last non-empty line; nullopt if it has none.
std::optional<std::string> last_line_assignment(const std::string& text) {
  std::string line;
  size_t end = text.size();
  while (true) {
    const size_t newline = end == 0 ? std::string::npos : text.rfind('\n', end - 1);
    const size_t begin = newline == std::string::npos ? 0 : newline + 1;
    line = strip(text.substr(begin, end - begin));
    if (!line.empty() || newline == std::string::npos) break;
    end = newline;
  }
  line = clean_latex(line);
  size_t rhs = std::string::npos;
  for (size_t i = 0; i < line.size(); ++i) {
    if (!is_letter(line[i]) || (i > 0 && !is_space(line[i - 1]))) continue;
    size_t j = i + 1;
    while (j < line.size() && is_space(line[j])) ++j;
    if (j < line.size() && line[j] == '=') rhs = j + 1;
  }
  if (rhs == std::string::npos) return std::nullopt;
  return canonical_answer(line.substr(rhs));
}

}  // namespace

std::optional<std::string> normalize_number(const std::string& text) {
  std::string cleaned;
  for (char c : text)
    if (c != ',' && c != '$' && c != ' ') cleaned += c;
  while (!cleaned.empty() && cleaned.back() == '.') cleaned.pop_back();
  cleaned = strip(cleaned);  // float() ignores surrounding whitespace
  if (!std::regex_match(cleaned, kFloat)) return std::nullopt;
  return format_number(std::strtod(cleaned.c_str(), nullptr));
}

std::string clean_latex(std::string text) {
  const MathSpec& spec = math_spec();
  for (const auto& command : spec.unwrap) text = unwrap(text, command);
  for (const auto& [word, by] : spec.rename) text = replace_word(text, word, by);
  for (const auto& word : spec.spaces) text = replace_word(text, word, " ");
  for (const auto& word : spec.drop) text = replace_word(text, word, "");
  text = strip(text);
  while (!text.empty() && text.back() == '.') text.pop_back();  // a sentence's full stop is not part of the answer
  return strip(text);
}

std::optional<std::string> canonical_answer(const std::string& text) {
  const std::string t = right_side(clean_latex(text));
  if (auto value = value_of(t)) return value;
  std::smatch m;
  if (std::regex_match(t, m, kWithUnit)) return canonical_answer(m[1].str());
  const auto runs = letter_runs(t);
  const size_t min_word = static_cast<size_t>(math_spec().min_word_letters);
  if (!runs.empty() && *std::max_element(runs.begin(), runs.end()) >= min_word) {
    const auto values = find_all(kAnyValue, t, 0);
    if (values.empty()) return std::nullopt;
    return canonical_answer(values.back());
  }
  const std::string e = expression(t);
  if (auto value = value_of(e)) return value;  // "\frac {3} {4}" is a value once its spaces are gone
  if (e.empty()) return std::nullopt;
  return e;
}

std::optional<std::string> extract_math(const std::string& text) {
  std::optional<std::string> boxed;
  const size_t open = sizeof kBoxed - 1;
  size_t start = 0, i;
  while ((i = text.find(kBoxed, start)) != std::string::npos) {
    const size_t end = closing_brace(text, i + open - 1);
    if (end == std::string::npos) {  // never closed: a box inside it may still be
      start = i + 1;
      continue;
    }
    boxed = text.substr(i + open, end - i - open);
    start = end + 1;
  }
  if (boxed)
    if (auto answer = canonical_answer(*boxed)) return answer;
  for (const std::regex* pattern : {&kHashes, &kAnswerIs}) {
    const auto found = find_all(*pattern, text, 1);
    if (!found.empty()) return canonical_answer(found.back());
  }
  if (auto assigned = last_line_assignment(text)) return assigned;
  const auto values = find_all(kAnyValue, text, 0);
  if (values.empty()) return std::nullopt;
  return canonical_answer(values.back());
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
  const auto key = canonical_answer(*a);
  return key && key == canonical_answer(*b);
}

}  // namespace edgereason
