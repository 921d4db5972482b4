// Strict JSON reading and a JSON Schema interpreter for the keyword subset of edgereason/schemas/*.schema.json,
// with the Python runtime's rules and wording (edgereason/schema.py): the schema files are the one statement of
// each format, and the same file is refused here and there with the same message.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

namespace edgereason {

// Objects keep the file's key order, as Python dicts do: it decides which of several errors is reported.
using Json = nlohmann::ordered_json;

// The manifest schema's text, compiled in by CMake from edgereason/schemas/manifest.schema.json.
extern const char kManifestSchema[];

// Parses JSON as edgereason.schema.parse does: UTF-8, no BOM, no NaN/Infinity, no number overflowing a
// double. An integer beyond 64 bits (Python keeps it exact) becomes a binary value holding its digits, which
// the schema treats as an integer. Throws std::invalid_argument with the reason, or std::length_error for
// nesting deeper than 1000 levels.
Json parse_strict(const std::string& text);

// edgereason.schema.read_json: reads and parses `path`; throws UsageError naming the file, `what` it should
// be and the `fix`.
Json read_json(const std::string& path, const std::string& what, const std::string& fix);
// edgereason.schema.parse_document: parse_strict, with one line naming `label`, `what` it should be and the `fix`
// for text that is not strict JSON.
Json parse_document(const std::string& text, const std::string& label, const std::string& what,
                    const std::string& fix);

class Schema {
 public:
  // Throws std::logic_error if the schema uses a keyword this interpreter does not know.
  explicit Schema(Json schema);

  // Throws UsageError "{label}: {field}: {problem}: {fix}" for the error Python's jsonschema best_match
  // picks, worded as edgereason.schema._problem words it; returns if `data` is valid.
  void validate(const Json& data, const std::string& label, const std::string& fix) const;

 private:
  struct Walk;
  void lint(const Json& schema);

  Json root_;
  std::map<std::string, std::regex> patterns_;
};

// Python's json.dumps of a parsed value: ASCII only, a float as repr() writes it, a big integer's digits.
std::string dumps(const Json& x);

// The schemas' "integer": a number written without fraction or exponent (2.0 and 1e15 are not), any size.
bool is_integer(const Json& x);

// Python's repr() of a string with nothing to escape (the schemas' patterns and enums, feature names): 'text'.
inline std::string repr(const std::string& s) { return "'" + s + "'"; }

// The first `n` code points of UTF-8 `text` (Python's text[:n]).
std::string first_chars(const std::string& text, size_t n);

}  // namespace edgereason
