// The artifact folder contract (DESIGN.md section 5, edgereason/artifact.py): manifest.json against
// edgereason/schemas/manifest.schema.json and the rules across fields, then a folder of exactly the listed
// plain files, each of its listed size and, unless opted out, sha256. The same rules in the same order as
// artifact.read_manifest, with the same messages (tests/golden/bad_files.json holds all three readers to it).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace edgereason {

constexpr int kSchemaVersion = 1;

struct FileEntry {
  uint64_t bytes;
  std::string sha256;
};

struct Manifest {
  std::string folder;
  std::string name;          // model.name
  std::string format;        // "pte" | "onnx"
  std::string recipe;
  std::string architecture;  // arch.architecture, e.g. LlamaForCausalLM
  int n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, vocab_size = 0, max_seq_len = 0;
  std::string tokenizer_file;  // empty: exported without a tokenizer
  std::optional<int> bos_id;
  bool add_bos = false;
  std::vector<int> eos_ids;
  std::string method = "forward";
  std::map<std::string, FileEntry> files;

  std::string path(const std::string& name) const { return folder + "/" + name; }
  std::string model_file() const;  // the listed model.pte, or the .onnx graph io.method names
};

// Reads folder/manifest.json and checks it; throws UsageError naming the file and the fix.
Manifest read_manifest(const std::string& folder, bool verify_sha256 = true);

}  // namespace edgereason
