// Byte-level BPE from a Hugging Face tokenizer.json (GPT-2 / SmolLM2 / Llama-3 style), encode and
// decode, matching the `tokenizers` library: added tokens split out first, then the ByteLevel
// pre-tokenizer's pattern, then merges by rank.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace edgereason {

class Tokenizer {
 public:
  // Throws UsageError for a missing file or an unsupported model/pre-tokenizer type.
  explicit Tokenizer(const std::string& path);

  std::vector<int> encode(const std::string& text) const;  // no special tokens added
  std::string decode(const std::vector<int>& ids, bool skip_special = true) const;
  size_t vocab_size() const { return id_to_token_.size(); }

 private:
  void encode_piece(const std::string& piece, std::vector<int>& out) const;

  std::unordered_map<std::string, int> vocab_;
  std::vector<std::string> id_to_token_;
  std::unordered_map<std::string, int> merge_rank_;  // "left right" -> rank
  std::vector<std::pair<std::string, int>> added_;   // content, id; longest first
  std::unordered_set<int> special_ids_;
  mutable std::unordered_map<std::string, std::vector<int>> cache_;
};

}  // namespace edgereason
