#include "manifest.h"

#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "errors.h"
#include "sha256.h"

namespace edgereason {
namespace {

// Architectures whose exports this runner's programs match (the Llama family, DESIGN.md section 4).
const char* const kArchitectures[] = {"LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM",
                                      "MobileLLMForCausalLM"};

std::string base_name(const std::string& folder) {
  std::string trimmed = folder;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  size_t slash = trimmed.rfind('/');
  return slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
}

template <typename T>
T field(const nlohmann::json& parent, const char* section, const char* key) {
  const auto& part = section ? parent.at(section) : parent;
  return part.at(key).get<T>();
}

void verify_files(const Manifest& m, bool verify_sha256) {
  const std::string label = base_name(m.folder);
  for (const auto& [name, entry] : m.files) {
    struct stat st;
    std::string path = m.path(name);
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      throw UsageError(label + ": " + name + " is missing: re-export or copy the whole folder");
    if (static_cast<uint64_t>(st.st_size) != entry.bytes)
      throw UsageError(label + ": " + name + " is " + std::to_string(st.st_size) + " bytes, manifest says " +
                       std::to_string(entry.bytes) + ": the copy is incomplete or corrupt; copy or re-export it");
    if (verify_sha256 && sha256_file(path) != entry.sha256)
      throw UsageError(label + ": " + name + " fails its sha256 check: the file is corrupt; copy or re-export it");
  }
}

}  // namespace

std::string Manifest::model_file() const {
  std::string wanted = format == "pte" ? "model.pte" : "model.onnx";
  if (!files.count(wanted))
    throw UsageError(base_name(folder) + ": manifest lists no " + wanted + ": re-export the artifact");
  return path(wanted);
}

Manifest read_manifest(const std::string& folder, bool verify_sha256) {
  struct stat st;
  if (stat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw UsageError(folder + " is not an artifact folder: pass a folder made by `edgereason export`");
  std::string path = folder + "/manifest.json";
  std::ifstream in(path);
  if (!in) throw UsageError(folder + " has no manifest.json: pass a folder made by `edgereason export`");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw UsageError(path + " is not valid JSON (" + e.what() + "): re-export the artifact");
  }
  Manifest m;
  m.folder = folder;
  try {
    int version = j.value("schema_version", -1);
    if (version != kSchemaVersion)
      throw UsageError("manifest schema_version " + std::to_string(version) + " is not " +
                       std::to_string(kSchemaVersion) + ": re-export the artifact with this edgereason version");
    m.name = field<std::string>(j, "model", "name");
    m.format = field<std::string>(j, nullptr, "format");
    m.recipe = field<std::string>(j, "recipe", "name");
    m.architecture = field<std::string>(j, "arch", "architecture");
    m.n_layers = field<int>(j, "arch", "n_layers");
    m.n_heads = field<int>(j, "arch", "n_heads");
    m.n_kv_heads = field<int>(j, "arch", "n_kv_heads");
    m.head_dim = field<int>(j, "arch", "head_dim");
    m.vocab_size = field<int>(j, "arch", "vocab_size");
    m.max_seq_len = field<int>(j, "arch", "max_seq_len");
    const auto& tok = j.at("tokenizer");
    m.tokenizer_file = tok.at("file").get<std::string>();
    if (!tok.at("bos_id").is_null()) m.bos_id = tok.at("bos_id").get<int>();
    m.add_bos = tok.value("add_bos", false);
    m.eos_ids = tok.at("eos_ids").get<std::vector<int>>();
    m.method = j.at("io").value("method", std::string("forward"));
    for (const auto& [name, entry] : j.at("files").items())
      m.files[name] = FileEntry{entry.at("bytes").get<uint64_t>(), entry.at("sha256").get<std::string>()};
  } catch (const nlohmann::json::exception& e) {
    throw UsageError("manifest.json is incomplete (" + std::string(e.what()) + "): re-export the artifact");
  }
  if (m.format != "pte" && m.format != "onnx")
    throw UsageError("manifest format '" + m.format + "' is not one this runner loads: use a pte or onnx artifact");
  bool known = false;
  for (const char* arch : kArchitectures) known = known || m.architecture == arch;
  if (!known)
    throw UsageError("manifest arch.architecture '" + m.architecture +
                     "' is not supported by edgereason-run: use a Llama-family artifact (LlamaForCausalLM, "
                     "Qwen2ForCausalLM, Qwen3ForCausalLM)");
  if (m.vocab_size <= 0 || m.max_seq_len <= 1 || m.n_layers <= 0 || m.n_kv_heads <= 0 || m.head_dim <= 0)
    throw UsageError("manifest arch has a non-positive size (vocab_size " + std::to_string(m.vocab_size) +
                     ", max_seq_len " + std::to_string(m.max_seq_len) + "): re-export the artifact");
  verify_files(m, verify_sha256);
  return m;
}

}  // namespace edgereason
