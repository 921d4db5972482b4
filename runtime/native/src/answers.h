// Answer extraction (runtime/answers.py, the rules' one statement): the final answer of a math trace, canonical
// (numbers, exact rationals, normalized expressions), or the letter of a multiple-choice one. The LaTeX words and
// limits are edgereason/specs/answers.json, compiled in. ASCII semantics for digits and whitespace, as in the
// Python and Java ports; all three are held to tests/golden/answers.json.
#pragma once

#include <optional>
#include <string>

namespace edgereason {

enum class AnswerKind { Math, Choice };

// edgereason/specs/answers.json's text, compiled in by CMake.
extern const char kAnswersSpec[];

// Choice letters, in order: a question with n options is answered letters()[0..n-1]. They are the compiled-in
// default solve spec's answers.letters (spec.cpp), as runtime/answers.py's LETTERS; max_choices() is their count.
const std::string& letters();
int max_choices();

// "1,000" -> "1000", "$5.50" -> "5.5", "12.0" -> "12"; nullopt if it is not a number.
std::optional<std::string> normalize_number(const std::string& text);
// `text` with the spec's LaTeX noise removed (unwrap, rename, spaces, drop) and no full stop at the end.
std::string clean_latex(std::string text);
// The canonical form of one answer (a box's content, a reference); nullopt if empty or words without a number.
std::optional<std::string> canonical_answer(const std::string& text);
// The final answer of a math trace, canonical.
std::optional<std::string> extract_math(const std::string& text);
std::optional<std::string> extract_choice(const std::string& text, int num_choices = max_choices());
// A choice answer is a letter of one of the question's `num_choices` options.
std::optional<std::string> extract(const std::string& text, AnswerKind kind, int num_choices = max_choices());
// Equal answers: the same string, or the same canonical answer ("3" == "3.0", "0.75" == "3/4").
bool same_answer(const std::optional<std::string>& a, const std::optional<std::string>& b);

}  // namespace edgereason
