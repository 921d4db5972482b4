#include "tokenizer.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>

#include "errors.h"
#include "schema.h"
#include "unicode_tables.h"

namespace edgereason {
namespace {

// --- UTF-8 --------------------------------------------------------------------------------------

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Length of the valid UTF-8 sequence at s[i], or 0 if invalid; `maximal` gets the length of the
// maximal invalid subpart to replace with one U+FFFD (Unicode's substitution rule, as Rust's
// from_utf8_lossy does).
size_t utf8_sequence(const std::string& s, size_t i, size_t& maximal) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t b0 = byte(i);
  maximal = 1;
  if (b0 < 0x80) return 1;
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) need = 1;
  else if (b0 >= 0xE0 && b0 <= 0xEF) need = 2, lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
  else if (b0 >= 0xF0 && b0 <= 0xF4) need = 3, lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
  else return 0;
  for (size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return 0;
    uint8_t b = byte(i + k);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
    maximal = k + 1;
  }
  return need + 1;
}

std::string utf8_lossy(const std::string& bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size();) {
    size_t maximal, n = utf8_sequence(bytes, i, maximal);
    if (n) {
      out.append(bytes, i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i += maximal;
    }
  }
  return out;
}

// Decodes valid UTF-8 (std::string input is valid: it comes from the user or JSON); an invalid
// byte is taken as U+FFFD.
std::vector<uint32_t> code_points(const std::string& s, std::vector<size_t>& offsets) {
  std::vector<uint32_t> cps;
  for (size_t i = 0; i < s.size();) {
    size_t maximal, n = utf8_sequence(s, i, maximal);
    offsets.push_back(i);
    if (!n) {
      cps.push_back(0xFFFD);
      i += maximal;
      continue;
    }
    uint32_t cp = n == 1 ? static_cast<uint8_t>(s[i]) : static_cast<uint8_t>(s[i]) & (0xFF >> (n + 1));
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3F);
    cps.push_back(cp);
    i += n;
  }
  offsets.push_back(s.size());
  return cps;
}

// --- character classes of the pre-tokenizer's pattern ---------------------------------------------

bool in_ranges(uint32_t cp, const CodeRange* ranges, size_t n) {
  const CodeRange* end = ranges + n;
  const CodeRange* it = std::upper_bound(ranges, end, cp, [](uint32_t c, const CodeRange& r) { return c < r.first; });
  return it != ranges && cp <= (it - 1)->last;
}
bool is_letter(uint32_t cp) { return in_ranges(cp, kLetterRanges, kLetterRanges_size); }
bool is_number(uint32_t cp) { return in_ranges(cp, kNumberRanges, kNumberRanges_size); }
bool is_space(uint32_t cp) {  // Unicode White_Space, what \s matches
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}
bool is_other(uint32_t cp) { return !is_space(cp) && !is_letter(cp) && !is_number(cp); }

// Splits like the ByteLevel pre-tokenizer's pattern, alternatives tried in order:
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
std::vector<std::string> pre_tokenize(const std::string& text) {
  std::vector<size_t> at;
  std::vector<uint32_t> cp = code_points(text, at);
  const size_t n = cp.size();
  std::vector<std::string> pieces;
  size_t i = 0;
  auto run = [&](size_t from, bool (*cls)(uint32_t)) {
    size_t j = from;
    while (j < n && cls(cp[j])) ++j;
    return j;
  };
  while (i < n) {
    size_t end = i;
    if (cp[i] == '\'' && i + 1 < n) {
      static const char* const suffixes[] = {"s", "t", "re", "ve", "m", "ll", "d"};
      for (const char* suffix : suffixes) {
        size_t len = std::char_traits<char>::length(suffix), k = 0;
        while (k < len && i + 1 + k < n && cp[i + 1 + k] == static_cast<uint32_t>(suffix[k])) ++k;
        if (k == len) {
          end = i + 1 + len;
          break;
        }
      }
    }
    if (end == i) {
      size_t start = (cp[i] == ' ' && i + 1 < n) ? i + 1 : i;
      for (bool (*cls)(uint32_t) : {is_letter, is_number, is_other}) {
        if (cls(cp[start])) {
          end = run(start, cls);
          break;
        }
      }
    }
    if (end == i) {  // whitespace: \s+(?!\S), else \s+
      size_t j = run(i, is_space);
      end = (j < n && j - i > 1) ? j - 1 : j;
    }
    pieces.push_back(text.substr(at[i], at[end] - at[i]));
    i = end;
  }
  return pieces;
}

// GPT-2's reversible byte <-> printable character map.
struct ByteMap {
  std::string byte_to_char[256];
  std::unordered_map<uint32_t, uint8_t> char_to_byte;
  ByteMap() {
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      uint32_t cp = printable ? b : 256 + extra++;
      append_utf8(byte_to_char[b], cp);
      char_to_byte[cp] = static_cast<uint8_t>(b);
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

}  // namespace

Tokenizer::Tokenizer(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError(path + " is missing: copy the whole artifact folder");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw UsageError(path + " is not valid JSON (" + e.what() + "): re-export the artifact");
  }
  const auto& model = j.at("model");
  if (model.value("type", "") != "BPE")
    throw UsageError(path + ": model type '" + model.value("type", "") + "' is not supported: only byte-level BPE");
  const auto& pre = j.at("pre_tokenizer");
  if (pre.is_null() || pre.value("type", "") != "ByteLevel" || pre.value("add_prefix_space", false))
    throw UsageError(path + ": the pre-tokenizer is not ByteLevel without a prefix space; this runner supports "
                     "only that (GPT-2, SmolLM2 style)");
  if (!j.at("normalizer").is_null()) throw UsageError(path + ": tokenizers with a normalizer are not supported");
  for (const auto& [token, id] : model.at("vocab").items()) {
    int i = id.get<int>();
    vocab_[token] = i;
    if (static_cast<size_t>(i) >= id_to_token_.size()) id_to_token_.resize(i + 1);
    id_to_token_[i] = token;
  }
  int rank = 0;
  for (const auto& merge : model.at("merges")) {
    // Newer files store ["a", "b"], older ones "a b".
    std::string key = merge.is_array() ? merge[0].get<std::string>() + " " + merge[1].get<std::string>()
                                       : merge.get<std::string>();
    merge_rank_.emplace(key, rank++);
  }
  for (const auto& added : j.at("added_tokens")) {
    std::string content = added.at("content").get<std::string>();
    int id = added.at("id").get<int>();
    added_.emplace_back(content, id);
    if (added.value("special", false)) special_ids_.insert(id);
    if (static_cast<size_t>(id) >= id_to_token_.size()) id_to_token_.resize(id + 1);
    id_to_token_[id] = content;
  }
  std::stable_sort(added_.begin(), added_.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

void Tokenizer::encode_piece(const std::string& piece, std::vector<int>& out) const {
  auto cached = cache_.find(piece);
  if (cached != cache_.end()) {
    out.insert(out.end(), cached->second.begin(), cached->second.end());
    return;
  }
  std::vector<std::string> symbols;
  for (unsigned char b : piece) symbols.push_back(byte_map().byte_to_char[b]);
  while (symbols.size() > 1) {
    int best = INT_MAX;
    size_t at = 0;
    for (size_t k = 0; k + 1 < symbols.size(); ++k) {
      auto it = merge_rank_.find(symbols[k] + " " + symbols[k + 1]);
      if (it != merge_rank_.end() && it->second < best) best = it->second, at = k;
    }
    if (best == INT_MAX) break;
    const std::string left = symbols[at], right = symbols[at + 1];
    std::vector<std::string> merged;
    for (size_t k = 0; k < symbols.size(); ++k) {
      if (k + 1 < symbols.size() && symbols[k] == left && symbols[k + 1] == right) {
        merged.push_back(left + right);
        ++k;
      } else {
        merged.push_back(symbols[k]);
      }
    }
    symbols.swap(merged);
  }
  std::vector<int> ids;
  for (const auto& symbol : symbols) {
    auto it = vocab_.find(symbol);
    if (it == vocab_.end()) throw std::runtime_error("tokenizer: no id for the symbol '" + symbol + "'");
    ids.push_back(it->second);
  }
  out.insert(out.end(), ids.begin(), ids.end());
  cache_.emplace(piece, std::move(ids));
}

std::vector<int> Tokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  size_t start = 0, i = 0;
  auto flush = [&](size_t end) {
    if (end > start)
      for (const auto& piece : pre_tokenize(text.substr(start, end - start))) encode_piece(piece, ids);
  };
  while (i < text.size()) {
    const std::pair<std::string, int>* hit = nullptr;
    for (const auto& added : added_)  // longest first
      if (!added.first.empty() && text.compare(i, added.first.size(), added.first) == 0) {
        hit = &added;
        break;
      }
    if (!hit) {
      ++i;
      continue;
    }
    flush(i);
    ids.push_back(hit->second);
    i += hit->first.size();
    start = i;
  }
  flush(text.size());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int>& ids, bool skip_special) const {
  std::string bytes;
  for (int id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) continue;
    if (special_ids_.count(id)) {
      if (!skip_special) bytes += id_to_token_[id];
      continue;
    }
    bool added = false;
    for (const auto& a : added_) added = added || a.second == id;
    if (added) {
      bytes += id_to_token_[id];
      continue;
    }
    std::vector<size_t> at;
    const std::string& token = id_to_token_[id];
    for (uint32_t cp : code_points(token, at)) {
      auto it = byte_map().char_to_byte.find(cp);
      if (it != byte_map().char_to_byte.end()) bytes += static_cast<char>(it->second);
      else append_utf8(bytes, cp);
    }
  }
  return utf8_lossy(bytes);
}

std::string StreamDecoder::push(int token_id) {
  ids_.push_back(token_id);
  const std::string done = tokenizer_.decode({ids_.begin() + prefix_, ids_.begin() + read_});
  const std::string decoded = tokenizer_.decode({ids_.begin() + prefix_, ids_.end()});
  // Python compares and slices code points; both strings are valid UTF-8 (decode is lossy).
  const auto length = [](const std::string& s) {
    return std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<uint8_t>(c) & 0xC0) != 0x80; });
  };
  const bool incomplete = decoded.size() >= 3 && decoded.compare(decoded.size() - 3, 3, "\xEF\xBF\xBD") == 0;
  if (length(decoded) <= length(done) || incomplete) return "";
  prefix_ = read_;
  read_ = ids_.size();
  return decoded.substr(first_chars(decoded, static_cast<size_t>(length(done))).size());
}

}  // namespace edgereason
