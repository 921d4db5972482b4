#include "arith.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace edgereason {
namespace {

// --- the spec and exact numbers --------------------------------------------------------------------

struct Spec {
  int max_digits, max_operands, max_value_digits, format_decimals, exact_decimals, rounded_decimals, window_chars;
  std::map<std::u32string, std::string> symbols;                // character -> + - * /
  std::vector<std::pair<std::u32string, std::string>> words;   // phrase -> + - * /, in the file's order
  std::vector<std::u32string> equals_words;                     // longest first
};

Spec load_spec() {
  const auto data = nlohmann::ordered_json::parse(kArithmeticSpec);
  Spec s;
  const std::pair<int*, const char*> limits[] = {
      {&s.max_digits, "max_digits"},         {&s.max_operands, "max_operands"},
      {&s.max_value_digits, "max_value_digits"}, {&s.format_decimals, "format_decimals"},
      {&s.exact_decimals, "exact_decimals"}, {&s.rounded_decimals, "rounded_decimals"},
      {&s.window_chars, "window_chars"}};
  for (const auto& [field, key] : limits) *field = data.at(key).get<int>();
  for (const auto& [key, op] : data.at("symbols").items()) s.symbols[utf32(key)] = op.get<std::string>();
  for (const auto& [phrase, op] : data.at("words").items()) s.words.emplace_back(utf32(phrase), op.get<std::string>());
  for (const auto& phrase : data.at("equals_words")) s.equals_words.push_back(utf32(phrase.get<std::string>()));
  // Where Python has big integers this port has an int128 (< 1.7e38): two operands below 10^max_value_digits
  // multiply below 10^36, a literal (with a % and its decimals) is such an operand, and a value scaled by
  // 10^format_decimals (format_value, rounding) stays below 10^37.
  if (s.max_value_digits > 18 || s.max_digits + 2 > s.max_value_digits || s.max_value_digits + s.format_decimals > 37 ||
      s.rounded_decimals > s.format_decimals)
    throw std::logic_error("edgereason/specs/arithmetic.json: limits beyond what the C++ int128 arithmetic holds");
  return s;
}

const Spec& spec() {
  static const Spec s = load_spec();
  return s;
}

__int128 abs128(__int128 v) { return v < 0 ? -v : v; }

__int128 power10(int n) {
  __int128 p = 1;
  while (n-- > 0) p *= 10;
  return p;
}

std::string digits(__int128 v) {
  if (v < 0) return "-" + digits(-v);
  std::string out;
  do out.insert(out.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
  while ((v /= 10) != 0);
  return out;
}

Fraction operator-(const Fraction& a) { return {-a.num, a.den}; }
Fraction operator+(const Fraction& a, const Fraction& b) { return {a.num * b.den + b.num * a.den, a.den * b.den}; }
Fraction operator-(const Fraction& a, const Fraction& b) { return a + -b; }
Fraction operator*(const Fraction& a, const Fraction& b) { return {a.num * b.num, a.den * b.den}; }
Fraction operator/(const Fraction& a, const Fraction& b) { return {a.num * b.den, a.den * b.num}; }

// --- characters ---------------------------------------------------------------------------------------

enum Kind { NUM, OP, LP, RP, EQ, BAR };

// Only ASCII counts as a digit, a letter or a space: other characters are barriers (or spec symbols).
bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_letter(char32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_space(char32_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool among(char32_t c, std::u32string_view set) { return set.find(c) != std::u32string_view::npos; }

// Python's str.lower() where it can give ASCII: A-Z, and the Kelvin sign, which lowers to "k".
std::u32string lower(std::u32string s) {
  for (char32_t& c : s) c = c >= 'A' && c <= 'Z' ? c + 32 : c == 0x212A ? U'k' : c;
  return s;
}

size_t skip_space(const std::u32string& s, size_t i) {
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

// s[i] is the 'x' of "3x4" or "3 x (4": alone, after a number or ")" and before a number, "(" or "$".
bool times_x(const std::u32string& s, size_t i) {
  if ((s[i] != 'x' && s[i] != 'X') || (i > 0 && is_letter(s[i - 1])) || (i + 1 < s.size() && is_letter(s[i + 1])))
    return false;
  size_t b = i;  // one past the last non-space before the x
  while (b > 0 && is_space(s[b - 1])) --b;
  const size_t a = skip_space(s, i + 1);
  return b > 0 && (is_digit(s[b - 1]) || among(s[b - 1], U")%")) && a < s.size() &&
         (is_digit(s[a]) || among(s[a], U"($"));
}

constexpr size_t kNone = std::u32string::npos;

// End of `word` (ASCII, any case) at s[i:], as a whole word; kNone if it is not there.
size_t word_at(const std::u32string& s, size_t i, const std::u32string& word) {
  const size_t j = i + word.size();
  if (j > s.size() || lower(s.substr(i, word.size())) != word || (j < s.size() && is_letter(s[j]))) return kNone;
  return j;
}

// End of a phrase of words separated by any whitespace ("multiplied by"); kNone if it is not there.
size_t phrase_at(const std::u32string& s, size_t i, const std::u32string& phrase) {
  for (size_t from = 0;;) {
    const size_t space = phrase.find(' ', from);
    i = word_at(s, i, phrase.substr(from, space - from));
    if (i == kNone || space == kNone) return i;
    const size_t j = skip_space(s, i);
    if (j == i) return kNone;
    i = j;
    from = space + 1;
  }
}

// --- tokens ----------------------------------------------------------------------------------------

struct Tok {
  Kind kind;
  size_t start, end;
  Fraction value{};  // NUM: as written, without the % (percent divides by 100 in use)
  std::string op{};  // OP: + - * /; EQ: the equals word
  bool dollar = false, percent = false;
  int decimals = 0;  // NUM: digits written after the point
};

bool in_expression(const Tok& t) { return t.kind == NUM || t.kind == OP || t.kind == LP || t.kind == RP; }

// The number at s[i] (a digit, or the `$` before one): its end, and its token unless it is glued or too long.
std::pair<size_t, std::optional<Tok>> number(const std::u32string& s, size_t i) {
  const size_t start = i;
  const bool dollar = s[i] == '$';
  if (dollar) ++i;
  size_t j = i;
  while (j < s.size() && is_digit(s[j])) ++j;
  std::u32string written = s.substr(i, j - i);
  if (j - i <= 3) {  // thousands groups: ",ddd" not followed by a digit
    while (j + 4 <= s.size() && s[j] == ',' && is_digit(s[j + 1]) && is_digit(s[j + 2]) && is_digit(s[j + 3]) &&
           (j + 4 == s.size() || !is_digit(s[j + 4]))) {
      written += s.substr(j + 1, 3);
      j += 4;
    }
  }
  size_t decimals = 0;
  if (j + 1 < s.size() && s[j] == '.' && is_digit(s[j + 1])) {
    size_t k = j + 1;
    while (k < s.size() && is_digit(s[k])) ++k;
    decimals = k - j - 1;
    written += s.substr(j + 1, decimals);
    j = k;
  }
  const bool percent = j < s.size() && s[j] == '%';
  if (percent) ++j;
  const char32_t before = start > 0 ? s[start - 1] : U' ';
  const bool glued_left = is_digit(before) || among(before, U"._") || (is_letter(before) && !times_x(s, start - 1));
  const char32_t after = j < s.size() ? s[j] : U' ';
  const bool glued_right = after == '_' || (is_letter(after) && !times_x(s, j)) ||
                           (after == '.' && j + 1 < s.size() && is_digit(s[j + 1]));
  if (glued_left || glued_right || written.size() > static_cast<size_t>(spec().max_digits)) {
    while (j < s.size() && (is_letter(s[j]) || is_digit(s[j]) || among(s[j], U"._"))) ++j;  // one barrier
    return {j, std::nullopt};
  }
  __int128 n = 0;
  for (char32_t c : written) n = n * 10 + (c - '0');
  Tok tok{NUM, start, j, Fraction(n, power10(static_cast<int>(decimals))), "", dollar, percent,
          static_cast<int>(decimals)};
  return {j, tok};
}

// The token of the letters s[i:j]: an operator or equals word, the 'x' of "3 x 4", "of" after a percent, or a barrier.
Tok word(const std::u32string& s, size_t i, size_t j, const std::vector<Tok>& before) {
  const Spec& sp = spec();
  const std::u32string w = lower(s.substr(i, j - i));
  const Tok* prev = before.empty() ? nullptr : &before.back();
  if (w == U"x" && prev && (prev->kind == NUM || prev->kind == RP)) {
    const size_t k = skip_space(s, j);
    if (k < s.size() && (is_digit(s[k]) || among(s[k], U"($"))) return {OP, i, j, {}, "*"};
  }
  for (const auto& [phrase, op] : sp.words) {
    const size_t end = phrase_at(s, i, phrase);
    if (end != kNone) return {OP, i, end, {}, op};
  }
  for (const auto& phrase : sp.equals_words) {
    const size_t end = phrase_at(s, i, phrase);
    if (end != kNone) return {EQ, i, end, {}, utf8(phrase)};
  }
  if (w == U"of" && prev && prev->kind == NUM && prev->percent) return {OP, i, j, {}, "*"};
  return {BAR, i, j};
}

// Tokens of s[lo:]; glue to letters is judged on the whole of s, so a window lexes as the text does.
std::vector<Tok> lex(const std::u32string& s, size_t lo) {
  const Spec& sp = spec();
  std::vector<Tok> out;
  for (size_t i = lo; i < s.size();) {
    const char32_t c = s[i];
    if (is_space(c)) {
      ++i;
    } else if (is_digit(c) || (c == '$' && i + 1 < s.size() && is_digit(s[i + 1]))) {
      auto [j, tok] = number(s, i);
      out.push_back(tok ? *tok : Tok{BAR, i, j});
      i = j;
    } else if (is_letter(c)) {
      size_t j = i;
      while (j < s.size() && is_letter(s[j])) ++j;
      out.push_back(word(s, i, j, out));
      i = out.back().end;
    } else {
      const auto symbol = sp.symbols.find(std::u32string(1, c));
      if (symbol != sp.symbols.end()) out.push_back({OP, i, i + 1, {}, symbol->second});
      else if (c == '(') out.push_back({LP, i, i + 1});
      else if (c == ')') out.push_back({RP, i, i + 1});
      else if (c == '=') out.push_back({EQ, i, i + 1, {}, "="});
      else out.push_back({BAR, i, i + 1});
      ++i;
    }
  }
  return out;
}

// The tokens with unit words dropped: a word right after a number and right before an operator, a closing
// parenthesis or an equals ("12 apples - 3 apples = 9").
std::vector<Tok> without_units(const std::u32string& s, const std::vector<Tok>& toks) {
  std::vector<Tok> out;
  for (size_t k = 0; k < toks.size(); ++k) {
    const Tok& t = toks[k];
    const bool unit = t.kind == BAR && !out.empty() && out.back().kind == NUM && k + 1 < toks.size() &&
                      (toks[k + 1].kind == OP || toks[k + 1].kind == RP || toks[k + 1].kind == EQ) &&
                      t.end - t.start <= 20 && std::all_of(s.begin() + t.start, s.begin() + t.end, is_letter);
    if (!unit) out.push_back(t);
  }
  return out;
}

// --- expressions ------------------------------------------------------------------------------------

// A value beyond max_value_digits: the statement is not checked (Python's _Overflow).
struct Overflow {};

// Recursive descent over NUM/OP/LP/RP tokens: expr := term (+|- term)*; term := factor (*|/ factor)*;
// factor := - factor | NUM | ( expr ). A token it cannot take sets `invalid` (Python's ValueError) and
// unwinds; an overflow throws.
class Parser {
 public:
  Parser(const Tok* toks, size_t size) : toks_(toks), size_(size), limit_(power10(spec().max_value_digits)) {}

  Fraction expr() {
    Fraction v = term();
    while (const Tok* t = next_op("+", "-")) {
      ++i, ++ops;
      plus_minus = true;
      const Fraction r = term();
      if (!invalid) v = check(t->op == "+" ? v + r : v - r);
    }
    return v;
  }

  size_t i = 0;
  int ops = 0, operands = 0;
  bool percent = false, plus_minus = false, undefined = false, invalid = false;

 private:
  const Tok* peek() const { return i < size_ ? toks_ + i : nullptr; }

  // The next token if the parse goes on and it is the operator `a` or `b`.
  const Tok* next_op(const char* a, const char* b) const {
    const Tok* t = invalid ? nullptr : peek();
    return t && t->kind == OP && (t->op == a || t->op == b) ? t : nullptr;
  }

  Fraction check(const Fraction& v) const {
    if (abs128(v.num) >= limit_ || v.den >= limit_) throw Overflow{};
    return v;
  }

  Fraction term() {
    Fraction v = factor();
    while (const Tok* t = next_op("*", "/")) {
      ++i, ++ops;
      const Fraction r = factor();
      if (invalid) break;
      if (t->op == "*") v = check(v * r);
      else if (r.num == 0) undefined = true;  // keep parsing: the statement is still a statement
      else v = check(v / r);
    }
    return v;
  }

  Fraction factor() {
    const Tok* t = peek();
    if (t && t->kind == OP && t->op == "-") {
      ++i;
      return -factor();
    }
    if (t && t->kind == NUM) {
      ++i, ++operands;
      percent |= t->percent;
      return t->percent ? t->value / Fraction(100) : t->value;
    }
    if (t && t->kind == LP) {
      ++i;
      const Fraction v = expr();
      const Tok* close = peek();
      if (invalid || !close || close->kind != RP) return fail();
      ++i;
      return v;
    }
    return fail();
  }

  Fraction fail() {
    invalid = true;
    return {};
  }

  const Tok* toks_;
  size_t size_;
  __int128 limit_;
};

struct Expr {
  std::optional<Fraction> value;  // none: undefined
  size_t start, end;              // token indices
  int ops;
  bool percent, plus_minus, dollar;
};

// toks[a:b] as one expression (or, with `prefix`, its longest parsable start); none if it is not one.
// Throws Overflow.
std::optional<Expr> parse(const std::vector<Tok>& toks, size_t a, size_t b, bool prefix = false) {
  Parser parser(toks.data() + a, b - a);
  const Fraction value = parser.expr();
  if (parser.invalid || (parser.i != b - a && !prefix)) return std::nullopt;
  if (parser.operands > spec().max_operands) throw Overflow{};
  const auto first = toks.begin() + a;
  const bool dollar = std::any_of(first, first + parser.i, [](const Tok& t) { return t.dollar; });
  return Expr{parser.undefined ? std::nullopt : std::optional<Fraction>(value), a, a + parser.i, parser.ops,
              parser.percent, parser.plus_minus, dollar};
}

size_t expression_end(const std::vector<Tok>& toks, size_t r) {
  while (r < toks.size() && in_expression(toks[r])) ++r;
  return r;
}

// The expression starts a window that does not start the text, right after something it may continue.
bool cut(const std::u32string& s, size_t lo, const Expr& left) {
  if (lo == 0 || left.start != 0) return false;
  size_t end = lo;
  while (end > 0 && is_space(s[end - 1])) --end;
  if (end == 0) return false;
  const char32_t c = s[end - 1];
  return is_digit(c) || is_letter(c) || among(c, U"()$%=+-*/") || spec().symbols.count(std::u32string(1, c));
}

// "3/4 is ...": a date, or a fraction named in words, is not checked.
bool named_fraction(const std::vector<Tok>& toks, size_t a, size_t e) {
  return toks[e].op == "is" && e - a == 3 && toks[a + 1].op == "/" && toks[a + 1].kind == OP &&
         toks[a].end == toks[a + 1].start && toks[a + 1].end == toks[a + 2].start && toks[a].decimals == 0 &&
         toks[a + 2].decimals == 0 && !toks[a].percent && !toks[a + 2].percent;
}

// The longest expression with an operator that ends right before the equals toks[e]; none if there is none or it
// is not checked (a % next to + or −, a bare "a/b is").
std::optional<Expr> left_of(const std::vector<Tok>& toks, size_t e) {
  size_t b = e;
  while (b > 0 && in_expression(toks[b - 1])) --b;
  if (e - b > 4 * static_cast<size_t>(spec().max_operands)) return std::nullopt;
  for (size_t a = b; a < e; ++a) {
    std::optional<Expr> found;
    try {
      found = parse(toks, a, e);
    } catch (const Overflow&) {
      return std::nullopt;  // never a shorter part of a statement too large to check
    }
    if (!found || found->ops == 0) continue;
    if ((found->percent && found->plus_minus) || named_fraction(toks, a, e)) return std::nullopt;
    return found;
  }
  return std::nullopt;
}

// written (with `decimals` places) is truth, or truth rounded to those places when it has more. With truth = p/q
// and written = w/10^d: w·q = p·10^d, or 2·|w·q − p·10^d| <= q (all below 10^36).
bool matches(const Fraction& truth, const Fraction& written, int decimals) {
  const __int128 p = truth.num, q = truth.den, scale = power10(decimals);
  const __int128 w = written.num * (scale / written.den);
  const __int128 diff = w * q - p * scale;
  if (diff == 0) return true;
  return decimals > 0 && (p * scale) % q != 0 && 2 * abs128(diff) <= q;
}

// The written number (or, written "N%", N/100) is the value, or the expression after the equals has it.
bool is_right(const std::vector<Tok>& toks, size_t e, const Fraction& value, const Tok& num, const Fraction& written) {
  if (matches(value, written, num.decimals) || (num.percent && matches(value, written / Fraction(100), num.decimals + 2)))
    return true;
  const size_t r = expression_end(toks, e + 1);
  if (r - e - 1 > 4 * static_cast<size_t>(spec().max_operands)) return false;  // bounded as the left side is
  try {
    const std::optional<Expr> alt = parse(toks, e + 1, r, true);  // "3 * 4 = 6 * 2"
    return alt && alt->ops > 0 && alt->value == value;
  } catch (const Overflow&) {
    return false;
  }
}

// The statement at the equals toks[e] is complete: something other than the expression after the equals follows
// it, or the text has ended. A "," or "." at the very end may still be a thousands separator or a decimal point.
bool complete(const std::u32string& s, const std::vector<Tok>& toks, size_t e, bool at_end) {
  const size_t r = expression_end(toks, e + 1);
  if (r == toks.size()) return at_end;
  const Tok& next = toks[r];
  return at_end || !(next.kind == BAR && next.end - next.start == 1 && among(s[next.start], U",.") &&
                     next.end == s.size());
}

// v rounded half away from zero to `places` decimals, trailing zeros dropped.
std::string decimal(const Fraction& v, int places) {
  const Fraction scaled(abs128(v.num) * power10(places), v.den);
  std::string n = digits((scaled.num * 2 + scaled.den) / (2 * scaled.den));
  if (n.size() < static_cast<size_t>(places) + 1) n.insert(0, places + 1 - n.size(), '0');
  const std::string whole = n.substr(0, n.size() - places);
  std::string frac = n.substr(n.size() - places);
  frac.erase(frac.find_last_not_of('0') + 1);
  const std::string text = whole + (frac.empty() ? "" : "." + frac);
  return (v.num < 0 && text.find_first_not_of("0.") != std::string::npos ? "-" : "") + text;
}

// The trace ends with "=", "$" or the last word of an equals word (spaces after): cheap, before `pending`.
bool may_be_pending(const std::u32string& s) {
  static const std::set<std::u32string> last_words = [] {
    std::set<std::u32string> words;
    for (const auto& phrase : spec().equals_words) words.insert(phrase.substr(phrase.rfind(' ') + 1));
    return words;
  }();
  size_t end = s.size();
  while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\t')) --end;
  if (end == 0) return false;
  if (s[end - 1] == '=' || s[end - 1] == '$') return true;
  size_t start = end;
  while (start > 0 && is_letter(s[start - 1])) --start;  // the whole trailing word
  return last_words.count(lower(s.substr(start, end - start))) > 0;
}

}  // namespace

Fraction::Fraction(__int128 numerator, __int128 denominator) : num(numerator), den(denominator) {
  if (den < 0) num = -num, den = -den;
  __int128 a = abs128(num), b = den;
  while (b != 0) a = std::exchange(b, a % b);
  if (a > 1) num /= a, den /= a;
}

std::u32string utf32(const std::string& text) {
  std::u32string out;
  for (size_t i = 0; i < text.size();) {  // valid UTF-8: it comes from a lossy decode or from JSON
    const auto lead = static_cast<uint8_t>(text[i]);
    const size_t n = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    char32_t cp = n == 1 ? lead : lead & (0x7F >> n);
    for (size_t k = 1; k < n && i + k < text.size(); ++k) cp = cp << 6 | (static_cast<uint8_t>(text[i + k]) & 0x3F);
    out += cp;
    i += n;
  }
  return out;
}

std::string utf8(const std::u32string& text) {
  std::string out;
  for (char32_t cp : text) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
      continue;
    }
    static const uint8_t lead[] = {0, 0, 0xC0, 0xE0, 0xF0};  // by the sequence's length
    const int n = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    out += static_cast<char>(lead[n] | (cp >> (6 * (n - 1))));
    for (int k = n - 2; k >= 0; --k) out += static_cast<char>(0x80 | ((cp >> (6 * k)) & 0x3F));
  }
  return out;
}

std::vector<Statement> statements(const std::u32string& s, size_t lo, bool at_end) {
  const std::vector<Tok> toks = without_units(s, lex(s, lo));
  std::vector<Statement> found;
  for (size_t e = 0; e < toks.size(); ++e) {
    if (toks[e].kind != EQ) continue;
    const std::optional<Expr> left = left_of(toks, e);
    if (!left || cut(s, lo, *left) || !complete(s, toks, e, at_end)) continue;
    size_t k = e + 1;
    const bool negative = k < toks.size() && toks[k].kind == OP && toks[k].op == "-";
    if (negative) ++k;
    if (k >= toks.size() || toks[k].kind != NUM || (negative && toks[k].start != toks[k - 1].end)) continue;
    const Tok& num = toks[k];
    const Fraction written = negative ? -num.value : num.value;
    Statement st;
    st.start = toks[left->start].start;
    st.end = num.end;
    st.text = utf8(s.substr(st.start, st.end - st.start));
    st.written = format_value(written);
    if (left->value) st.value = format_value(*left->value);
    st.right = left->value && is_right(toks, e, *left->value, num, written);
    st.eq_end = toks[e].end;
    found.push_back(std::move(st));
  }
  return found;
}

std::optional<Pending> pending(const std::u32string& s, size_t lo) {
  const std::vector<Tok> toks = without_units(s, lex(s, lo));
  if (toks.empty()) return std::nullopt;
  const Tok& last = toks.back();
  const bool dollar_typed = last.kind == BAR && last.end - last.start == 1 && s[last.start] == '$';
  const size_t back = dollar_typed ? 2 : 1;
  if (toks.size() < back || toks[toks.size() - back].kind != EQ) return std::nullopt;
  const size_t e = toks.size() - back;
  const std::optional<Expr> left = left_of(toks, e);
  if (!left || !left->value || cut(s, lo, *left)) return std::nullopt;
  std::optional<std::string> text = result_text(*left->value);
  if (!text) return std::nullopt;
  const Tok& eq = toks[e];
  std::string lead;
  if (!dollar_typed) {  // the model would write a space after a spaced equals that nothing follows yet
    if (eq.end == s.size() && eq.start > 0 && is_space(s[eq.start - 1])) lead = " ";
    if (left->dollar) text = (*text)[0] == '-' ? "-$" + text->substr(1) : "$" + *text;
  }
  return Pending{lead + *text, eq.end};
}

std::string format_value(const Fraction& v) {
  for (int places = 0; places <= spec().format_decimals; ++places)
    if ((v.num * power10(places)) % v.den == 0) return decimal(v, places);
  return digits(v.num) + "/" + digits(v.den);
}

std::optional<std::string> result_text(const Fraction& v) {
  const std::string exact = format_value(v);
  const size_t point = exact.find('.');
  if (exact.find('/') == std::string::npos &&
      (point == std::string::npos || exact.size() - point - 1 <= static_cast<size_t>(spec().exact_decimals)))
    return exact;
  const std::string text = decimal(v, spec().rounded_decimals);
  if (text.find_first_not_of("-0.") == std::string::npos) return std::nullopt;
  return text;
}

ArithmeticChecker::ArithmeticChecker(const Tokenizer& tokenizer, Calculator mode)
    : tokenizer_(tokenizer), mode_(mode), decoder_(tokenizer) {}

void ArithmeticChecker::push(int token_id, bool tool) {
  if (!seq_.empty() && ++seq_at_ >= seq_.size()) seq_.clear();
  const std::u32string piece = utf32(decoder_.push(token_id));
  const bool had_text = !trace_.empty();
  trace_ += piece;
  token_ends_.push_back(trace_.size());
  if (tool && seq_eq_) forced_eq_.insert(*seq_eq_);
  // Only something that can end a statement makes a scan worth it.
  if (had_text && std::any_of(piece.begin(), piece.end(), [](char32_t c) { return !is_digit(c) && !is_space(c); }))
    scan(false);
}

std::optional<int> ArithmeticChecker::expected(int room) {
  if (mode_ != Calculator::Compute) return std::nullopt;
  if (seq_.empty() && may_be_pending(trace_)) start_sequence(room);
  return seq_.empty() ? std::nullopt : std::optional<int>(seq_[seq_at_]);
}

void ArithmeticChecker::start_sequence(int room) {
  const std::optional<Pending> found = pending(trace_, window_start());
  if (!found || !handled_eq_.insert(found->eq_end).second) return;
  std::vector<int> ids = tokenizer_.encode(found->text);
  if (ids.empty() || static_cast<int>(ids.size()) > room) return;
  seq_ = std::move(ids);
  seq_at_ = 0;
  seq_eq_ = found->eq_end;
}

std::vector<int> ArithmeticChecker::take_rest() {
  if (seq_eq_) corrected_eq_.insert(*seq_eq_);
  return {seq_.begin() + seq_at_, seq_.end()};
}

void ArithmeticChecker::finish() {
  if (finished_) return;
  finished_ = true;
  scan(true);
}

// Start of the line before the current one, at most window_chars back (then at a space).
size_t ArithmeticChecker::window_start() const {
  const std::u32string& s = trace_;
  const size_t line = s.rfind(U'\n');
  size_t start = 0;
  if (line != kNone && line > 0) {
    const size_t before = s.rfind(U'\n', line - 1);
    start = before == kNone ? 0 : before + 1;
  }
  const size_t window = static_cast<size_t>(spec().window_chars);
  if (s.size() > window && start < s.size() - window) {
    start = s.size() - window;
    while (start < s.size() && !is_space(s[start])) ++start;
  }
  return start;
}

void ArithmeticChecker::scan(bool at_end) {
  for (Statement& st : edgereason::statements(trace_, window_start(), at_end)) {
    if (!seen_.insert(st.end).second) continue;
    st.forced = forced_eq_.count(st.eq_end) > 0;
    st.corrected = corrected_eq_.count(st.eq_end) > 0;
    statements.push_back(std::move(st));
  }
}

size_t ArithmeticChecker::token_at(size_t offset) const {
  return static_cast<size_t>(std::upper_bound(token_ends_.begin(), token_ends_.end(), offset) - token_ends_.begin());
}

std::vector<Statement> ArithmeticChecker::errors() const {
  std::vector<Statement> out;
  std::copy_if(statements.begin(), statements.end(), std::back_inserter(out), [](const Statement& st) { return st.error(); });
  return out;
}

ArithFeatures ArithmeticChecker::features() const {
  const std::vector<Statement> errs = errors();
  const double n = static_cast<double>(std::max<size_t>(1, token_ends_.size()));
  const double first = errs.empty() ? 1.0 : std::min(1.0, static_cast<double>(token_at(errs[0].end - 1)) / n);
  return {static_cast<double>(statements.size()), static_cast<double>(errs.size()), first};
}

}  // namespace edgereason
