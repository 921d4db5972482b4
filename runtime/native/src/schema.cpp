#include "schema.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "errors.h"

namespace edgereason {
namespace {

constexpr long long kMaxFileBytes = 64LL << 20;  // as edgereason.schema.MAX_FILE_BYTES

// Offset of the first byte that does not start a well-formed UTF-8 sequence (Python's decode rules: no
// overlong forms, no surrogates, nothing past U+10FFFF), or npos.
size_t invalid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return i;
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return i;
      cp = cp << 6 | (d & 0x3F);
    }
    static const uint32_t kLeast[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kLeast[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string::npos;
}

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// nlohmann's DOM builder, except that an integer too long for 64 bits (which nlohmann would turn into a
// double) keeps its digits, as Python's int does, and that nesting is limited: Python's parser stops near
// 1000 levels (RecursionError), and copying a deeper value would overflow our stack. nlohmann calls the
// handler's members directly (a template, not virtual), so hiding them is enough.
struct StrictDom : nlohmann::detail::json_sax_dom_parser<Json> {
  using json_sax_dom_parser::json_sax_dom_parser;
  static constexpr int kMaxDepth = 1000;
  int depth = 0;

  bool number_float(double value, const std::string& text) {
    if (text.find_first_of(".eE") != std::string::npos) return json_sax_dom_parser::number_float(value, text);
    Json::binary_t digits(std::vector<uint8_t>(text.begin(), text.end()));
    return binary(digits);
  }
  bool start_object(size_t n) { return enter() && json_sax_dom_parser::start_object(n); }
  bool start_array(size_t n) { return enter() && json_sax_dom_parser::start_array(n); }
  bool end_object() {
    --depth;
    return json_sax_dom_parser::end_object();
  }
  bool end_array() {
    --depth;
    return json_sax_dom_parser::end_array();
  }
  bool enter() {
    if (++depth > kMaxDepth) throw std::length_error("nested deeper than " + std::to_string(kMaxDepth));
    return true;
  }
};

bool is_big_integer(const Json& x) { return x.is_binary(); }  // only StrictDom makes binary values

std::string big_digits(const Json& x) { return std::string(x.get_binary().begin(), x.get_binary().end()); }

bool is_number(const Json& x) { return x.is_number() || is_big_integer(x); }  // booleans are not numbers

// Exact on both targets: long double holds every int64/uint64 and double (80-bit x87, 128-bit on aarch64).
long double number(const Json& x) {
  if (is_big_integer(x)) return std::strtold(big_digits(x).c_str(), nullptr);
  if (x.is_number_unsigned()) return static_cast<long double>(x.get<uint64_t>());
  if (x.is_number_integer()) return static_cast<long double>(x.get<int64_t>());
  return static_cast<long double>(x.get<double>());
}

bool is_type(const Json& x, const std::string& type) {
  if (type == "object") return x.is_object();
  if (type == "array") return x.is_array();
  if (type == "string") return x.is_string();
  if (type == "boolean") return x.is_boolean();
  if (type == "null") return x.is_null();
  if (type == "integer") return is_integer(x);
  return type == "number" && is_number(x);
}

std::vector<std::string> types(const Json& value) {  // "type": a name or a list of names
  if (value.is_string()) return {value.get<std::string>()};
  return value.get<std::vector<std::string>>();
}

// Python's repr(float): the shortest digits that read back, positional from 1e-4 up to 1e16, else 1.5e+16.
// (nlohmann writes 1e15 as 1e+15.)
std::string float_repr(double x) {
  char buffer[32];
  const std::string s(buffer, std::to_chars(buffer, buffer + sizeof buffer, x, std::chars_format::scientific).ptr);
  const size_t e = s.find('e'), sign = s[0] == '-';
  const int exp = std::stoi(s.substr(e + 1));
  std::string digits = s.substr(sign, e - sign);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const std::string out = sign ? "-" : "";
  if (exp < -4 || exp >= 16) {
    char exponent[16];
    std::snprintf(exponent, sizeof exponent, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    return out + digits.substr(0, 1) + (digits.size() > 1 ? "." + digits.substr(1) : "") + exponent;
  }
  if (exp < 0) return out + "0." + std::string(-exp - 1, '0') + digits;
  const size_t whole = static_cast<size_t>(exp) + 1;
  if (digits.size() <= whole) return out + digits + std::string(whole - digits.size(), '0') + ".0";
  return out + digits.substr(0, whole) + "." + digits.substr(whole);
}

// How _problem shows the offending value: its JSON (60 characters at most), or the container's type.
std::string shown(const Json& x) {
  return x.is_object() ? "dict" : x.is_array() ? "list" : first_chars(dumps(x), 60);
}

// What a bounds keyword compares, or nothing when the instance is not of the keyword's type.
std::optional<long double> measure(const std::string& keyword, const Json& x) {
  if (keyword.find("Items") != std::string::npos)
    return x.is_array() ? std::optional<long double>(x.size()) : std::nullopt;
  if (keyword.find("Properties") != std::string::npos)
    return x.is_object() ? std::optional<long double>(x.size()) : std::nullopt;
  if (keyword.find("Length") != std::string::npos)
    return x.is_string() ? std::optional<long double>(code_points(x.get_ref<const std::string&>())) : std::nullopt;
  return is_number(x) ? std::optional<long double>(number(x)) : std::nullopt;
}

const std::set<std::string> kKeywords = {
    "type", "const", "enum", "properties", "required", "additionalProperties", "propertyNames", "items",
    "minItems", "maxItems", "minProperties", "maxProperties", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "pattern", "$ref",
    "$schema", "$id", "title", "description", "$defs"};  // the last five: annotations, no check

// The bounds keywords, as _problem words them.
const std::map<std::string, std::string> kBounds = {
    {"minimum", ">="}, {"maximum", "<="}, {"exclusiveMinimum", ">"}, {"exclusiveMaximum", "<"},
    {"minItems", "items >="}, {"maxItems", "items <="}, {"minLength", "length >="}, {"maxLength", "length <="},
    {"minProperties", "fields >="}, {"maxProperties", "fields <="}};

}  // namespace

std::string dumps(const Json& x) {
  if (is_big_integer(x)) return big_digits(x);
  return x.is_number_float() ? float_repr(x.get<double>()) : x.dump(-1, ' ', true);
}

bool is_integer(const Json& x) { return x.is_number_integer() || is_big_integer(x); }

std::string first_chars(const std::string& text, size_t n) {
  size_t end = 0;
  for (size_t count = 0; end < text.size(); ++end)
    if ((static_cast<unsigned char>(text[end]) & 0xC0) != 0x80 && count++ == n) break;
  return text.substr(0, end);
}

Json parse_strict(const std::string& text) {
  // nlohmann skips a byte order mark; Python's json refuses one.
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) throw std::invalid_argument("Unexpected UTF-8 BOM");
  Json root;
  StrictDom dom(root);
  try {
    Json::sax_parse(text, &dom);  // refuses NaN, Infinity and 1e400 ("number overflow") itself
  } catch (const Json::exception& e) {
    throw std::invalid_argument(e.what());
  }
  return root;
}

Json read_json(const std::string& path, const std::string& what, const std::string& fix) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0)
    throw UsageError(errno == ENOENT ? path + " does not exist: " + fix
                                     : "cannot read " + path + " (" + std::strerror(errno) + "): " + fix);
  if (S_ISDIR(st.st_mode)) throw UsageError(path + " is a folder, not " + what + ": " + fix);
  if (st.st_size > kMaxFileBytes)
    throw UsageError(path + ": " + std::to_string(st.st_size) + " bytes is too large for " + what + ": " + fix);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("cannot read " + path + " (" + std::strerror(errno) + "): " + fix);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  size_t bad = invalid_utf8(text);
  if (bad != std::string::npos)
    throw UsageError(path + " is not UTF-8 text (byte " + std::to_string(bad) + "), not " + what + ": " + fix);
  return parse_document(text, path, what, fix);
}

Json parse_document(const std::string& text, const std::string& label, const std::string& what,
                    const std::string& fix) {
  try {
    return parse_strict(text);
  } catch (const std::invalid_argument& e) {
    throw UsageError(label + " is not valid JSON (" + first_chars(e.what(), 120) + "): " + fix);
  } catch (const std::length_error&) {
    throw UsageError(label + " is nested too deeply to be " + what + ": " + fix);
  }
}

// One validation: finds the error jsonschema's best_match would report. best_match takes the maximum of
// (-len(path), path, schema's type not matching the instance) over all errors, the first of equals. So
// once a schema has failed at a path, its other keywords can only tie (same path, same schema) or lose
// (deeper paths): only $ref and propertyNames (another schema, same path) still have to be walked. That also
// keeps std::regex (recursive) off a long string that maxLength already refused.
struct Schema::Walk {
  struct Found {
    std::vector<Json> path;  // the instance's location, ranked; keys and indices compare as in Python
    bool mismatch;           // not error._matches_type()
    std::string field, problem;
  };
  const Schema& schema;
  std::vector<Json> path;
  std::optional<Found> best;

  static std::string field_path(const std::vector<Json>& parts) {
    std::string out;
    for (const auto& part : parts)
      out += part.is_string() ? (out.empty() ? "" : ".") + part.get<std::string>() : "[" + part.dump() + "]";
    return out.empty() ? "(top level)" : out;
  }

  void fail(const Json& s, const Json& x, bool in_names, const std::string& problem, const std::string* key) {
    bool matches = false;
    if (s.contains("type"))
      for (const auto& type : types(s.at("type"))) matches = matches || is_type(x, type);
    std::vector<Json> parts = path;
    if (key) parts.emplace_back(*key);
    Found found{path, !matches, field_path(parts),
                in_names ? "file name " + shown(x) + " is not a plain relative path inside the folder" : problem};
    auto rank = [](const Found& f) { return std::make_tuple(-static_cast<long>(f.path.size()), f.path, f.mismatch); };
    if (!best || rank(found) > rank(*best)) best = std::move(found);
  }

  // Checks `x` against schema `s`; `in_names`: `x` is a property name, checked by propertyNames.
  void check(const Json& s, const Json& x, bool in_names) {
    bool failed = false;
    auto fail_here = [&](const std::string& problem, const std::string* key = nullptr) {
      fail(s, x, in_names, problem, key);
      failed = true;
    };
    for (const auto& [k, v] : s.items()) {
      if (k == "$ref") {
        check(schema.root_.at("$defs").at(v.get<std::string>().substr(8)), x, in_names);
      } else if (k == "propertyNames") {
        if (x.is_object())
          for (const auto& item : x.items()) check(v, Json(item.key()), true);
      } else if (failed) {
        continue;
      } else if (k == "type") {
        bool ok = false;
        std::string listed;
        for (const auto& type : types(v)) {
          ok = ok || is_type(x, type);
          listed += (listed.empty() ? "" : " or ") + type;
        }
        if (!ok) fail_here(shown(x) + " is not of type " + listed);
      } else if (k == "const" || k == "enum") {
        const Json allowed = k == "const" ? Json::array({v}) : v;
        bool ok = false;
        std::string listed;
        for (const auto& a : allowed) {
          ok = ok || a == x;  // nlohmann's == is jsonschema's: 1 == 1.0, true != 1
          listed += (listed.empty() ? "" : ", ") + dumps(a);
        }
        if (!ok) fail_here(shown(x) + " is not one of " + listed);
      } else if (x.is_object() && k == "properties") {
        for (const auto& [name, sub] : v.items()) {
          if (!x.contains(name)) continue;
          path.emplace_back(name);
          check(sub, x.at(name), in_names);
          path.pop_back();
        }
      } else if (x.is_object() && k == "required") {
        for (const auto& name : v)
          if (!x.contains(name.get_ref<const std::string&>())) {
            fail_here("is missing", &name.get_ref<const std::string&>());
            break;
          }
      } else if (x.is_object() && k == "additionalProperties") {
        const Json* known = s.contains("properties") ? &s.at("properties") : nullptr;
        for (const auto& [name, value] : x.items()) {
          if (known && known->contains(name)) continue;
          if (v.is_boolean()) {  // false: one error, naming the first extra field; true: anything goes
            if (!v.get<bool>()) fail_here("is not a known field", &name);
            break;
          }
          path.emplace_back(name);
          check(v, value, in_names);
          path.pop_back();
        }
      } else if (x.is_array() && k == "items") {
        for (size_t i = 0; i < x.size(); ++i) {
          path.emplace_back(i);
          check(v, x[i], in_names);
          path.pop_back();
        }
      } else if (x.is_string() && k == "pattern") {
        if (!std::regex_search(x.get_ref<const std::string&>(), schema.patterns_.at(v.get<std::string>())))
          fail_here(shown(x) + " has the wrong form");
      } else if (kBounds.count(k)) {
        const std::optional<long double> value = measure(k, x);
        if (!value) continue;
        const long double bound = number(v);
        const bool ok = k == "exclusiveMinimum"   ? *value > bound
                        : k == "exclusiveMaximum" ? *value < bound
                        : k.rfind("min", 0) == 0  ? *value >= bound
                                                  : *value <= bound;
        if (!ok) fail_here(shown(x) + " is out of range (must have " + kBounds.at(k) + " " + dumps(v) + ")");
      }
    }
  }
};

Schema::Schema(Json schema) : root_(std::move(schema)) { lint(root_); }

void Schema::lint(const Json& s) {
  if (!s.is_object()) throw std::logic_error("a schema is not an object: " + first_chars(s.dump(), 80));
  for (const auto& [k, v] : s.items()) {
    if (!kKeywords.count(k)) throw std::logic_error("schema keyword " + k + " is not supported by edgereason-run");
    if (k == "properties" || k == "$defs") {
      for (const auto& [name, sub] : v.items()) lint(sub);
    } else if (k == "items" || k == "propertyNames" || (k == "additionalProperties" && !v.is_boolean())) {
      lint(v);
    } else if (k == "pattern") {
      patterns_.emplace(v.get<std::string>(), std::regex(v.get<std::string>(), std::regex::ECMAScript));
    } else if (k == "$ref") {
      const std::string ref = v.get<std::string>();
      if (ref.rfind("#/$defs/", 0) != 0 || !root_.contains("$defs") || !root_.at("$defs").contains(ref.substr(8)))
        throw std::logic_error("schema $ref " + ref + " is not one of #/$defs");
    } else if (k == "type") {
      static const std::set<std::string> kTypes = {"object", "array", "string", "boolean", "null", "integer", "number"};
      for (const auto& type : types(v))
        if (!kTypes.count(type)) throw std::logic_error("schema type " + type + " is not a JSON Schema type");
    }
  }
}

void Schema::validate(const Json& data, const std::string& label, const std::string& fix) const {
  Walk walk{*this, {}, std::nullopt};
  walk.check(root_, data, false);
  if (!walk.best) return;
  const std::string& problem = walk.best->problem;
  const char* sep = problem.rfind("is ", 0) == 0 ? " " : ": ";
  throw UsageError(label + ": " + walk.best->field + sep + problem + ": " + fix);
}

}  // namespace edgereason
