// Answer extraction (runtime/answers.py): the final number of a math trace, or the letter of a
// multiple-choice one. ASCII semantics for digits and whitespace, as in the Python and Java ports.
#pragma once

#include <optional>
#include <string>

namespace edgereason {

enum class AnswerKind { Math, Choice };

// Choice letters, in order: a question with n options is answered letters()[0..n-1]. They are the compiled-in
// default solve spec's answers.letters (spec.cpp), as runtime/answers.py's LETTERS; max_choices() is their count.
const std::string& letters();
int max_choices();

// "1,000" -> "1000", "$5.50" -> "5.5", "12.0" -> "12"; nullopt if it is not a number.
std::optional<std::string> normalize_number(const std::string& text);
std::optional<std::string> extract_math(const std::string& text);
std::optional<std::string> extract_choice(const std::string& text, int num_choices = max_choices());
// A choice answer is a letter of one of the question's `num_choices` options.
std::optional<std::string> extract(const std::string& text, AnswerKind kind, int num_choices = max_choices());
// Equal answers; math answers compare as numbers ("3" == "3.0").
bool same_answer(const std::optional<std::string>& a, const std::optional<std::string>& b);

}  // namespace edgereason
