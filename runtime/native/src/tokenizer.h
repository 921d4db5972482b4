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

// Token ids in, printable UTF-8 out, never splitting a character (runtime/text.py StreamDecoder): each push
// decodes a short window, the tokens since the last emitted piece and the piece before them (vLLM's
// detokenizer), so the cost per token is constant and a decode's leading-space rule acts alike.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  // The new text; empty while the window's decode ends in U+FFFD (a character still incomplete).
  std::string push(int token_id);

 private:
  const Tokenizer& tokenizer_;
  std::vector<int> ids_;
  size_t prefix_ = 0, read_ = 0;  // window start (the piece before the last one); tokens already emitted
};

}  // namespace edgereason
