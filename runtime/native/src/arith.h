// Checked arithmetic (runtime/arith.py, the grammar's one statement): the "a op b = c" statements a trace
// writes, evaluated exactly, and compute mode's results. Limits and words come from
// edgereason/specs/arithmetic.json, compiled in; held to tests/golden/arithmetic.json with the Python and
// Java ports. Text is UTF-32 here, so offsets are code points as in Python; statement texts are UTF-8.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tokenizer.h"

namespace edgereason {

// edgereason/specs/arithmetic.json's text, compiled in by CMake.
extern const char kArithmeticSpec[];

// An exact rational in lowest terms, den > 0. The spec's max_value_digits (18) keeps every operand below
// 10^18, so every product and sum of two fits an int128.
struct Fraction {
  __int128 num = 0, den = 1;
  Fraction() = default;
  Fraction(__int128 numerator, __int128 denominator = 1);
  bool operator==(const Fraction& o) const { return num == o.num && den == o.den; }
};

enum class Calculator { Off, Check, Compute };

struct Statement {
  size_t start = 0, end = 0;  // its span in the trace text (code points), from the expression to the written number
  std::string text;           // that span
  std::string written;        // the number written after the equals (format_value)
  std::optional<std::string> value;  // the expression's true value; none when undefined (division by zero)
  bool right = false;
  size_t eq_end = 0;       // where the equals ends (a computed result is written from here)
  bool forced = false;     // compute mode wrote (part of) the result
  bool corrected = false;  // ... because the model's own next token differed: counted as an error
  bool error() const { return !right || corrected; }
};

// What compute mode writes after a trailing equals, and where that equals ends.
struct Pending {
  std::string text;
  size_t eq_end;
};

std::u32string utf32(const std::string& utf8);
std::string utf8(const std::u32string& text);

// Every complete statement in s[lo:]; with `at_end` false a number at the very end may still grow.
std::vector<Statement> statements(const std::u32string& s, size_t lo = 0, bool at_end = true);
// The result to write when s ends with "a op b =" (or an equals word, or "= $"); none if there is nothing to write.
std::optional<Pending> pending(const std::u32string& s, size_t lo = 0);
// "19", "-3.5", "0.125"; "p/q" when no decimal of format_decimals places is exact.
std::string format_value(const Fraction& v);
// Exact up to exact_decimals decimals, else rounded to rounded_decimals; none when that would write 0 for non-0.
std::optional<std::string> result_text(const Fraction& v);

struct ArithFeatures {
  double arith_statements = 0.0, arith_errors = 0.0, first_error_at = 1.0;  // the calculator off: these
};

// The statements of one trace as it is decoded and, in compute mode, the result tokens to feed
// (runtime/arith.py ArithmeticChecker). The loop pushes every token; `expected` is the token the calculator
// wants next; the model's own token is kept when it is that one, else the loop feeds `take_rest` as tool tokens.
class ArithmeticChecker {
 public:
  ArithmeticChecker(const Tokenizer& tokenizer, Calculator mode);
  void push(int token_id, bool tool = false);
  // `room`: tokens the trace may still add (budget and context); a result that does not fit whole is not written.
  std::optional<int> expected(int room);
  std::vector<int> take_rest();
  void finish();  // the trace ended: a number at its very end completes its statement
  std::vector<Statement> errors() const;
  ArithFeatures features() const;

  std::vector<Statement> statements;

 private:
  void start_sequence(int room);
  size_t window_start() const;
  void scan(bool at_end);
  size_t token_at(size_t offset) const;

  const Tokenizer& tokenizer_;
  Calculator mode_;
  StreamDecoder decoder_;
  std::u32string trace_;
  std::vector<size_t> token_ends_;  // trace length after each token
  std::set<size_t> seen_, handled_eq_, corrected_eq_, forced_eq_;
  std::vector<int> seq_;  // the result's tokens being written, from seq_at_
  size_t seq_at_ = 0;
  std::optional<size_t> seq_eq_;
  bool finished_ = false;
};

}  // namespace edgereason
