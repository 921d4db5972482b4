#include "manifest.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "errors.h"
#include "schema.h"
#include "sha256.h"

namespace edgereason {
namespace {

const char* const kFix = "re-export the artifact";
const char* const kManifestFile = "manifest.json";

// Architectures whose exports this runner's programs match (the Llama family, DESIGN.md section 4).
const char* const kArchitectures[] = {"LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM",
                                      "MobileLLMForCausalLM"};

// Python's Path(folder).name, which the messages start with: the last component, "" for "." or "/".
std::string base_name(const std::string& folder) {
  std::string last;
  for (size_t start = 0; start <= folder.size();) {
    size_t end = std::min(folder.find('/', start), folder.size());
    std::string part = folder.substr(start, end - start);
    if (!part.empty() && part != ".") last = part;
    start = end + 1;
  }
  return last;
}

std::string model_name(const Manifest& m) { return m.format == "pte" ? "model.pte" : m.method; }

Manifest from_json(const std::string& folder, const Json& j) {  // j has passed the schema
  Manifest m;
  m.folder = folder;
  m.name = j.at("model").at("name").get<std::string>();
  m.format = j.at("format").get<std::string>();
  m.recipe = j.at("recipe").at("name").get<std::string>();
  const Json& arch = j.at("arch");
  m.architecture = arch.at("architecture").get<std::string>();
  m.n_layers = arch.at("n_layers").get<int>();
  m.n_heads = arch.at("n_heads").get<int>();
  m.n_kv_heads = arch.at("n_kv_heads").get<int>();
  m.head_dim = arch.at("head_dim").get<int>();
  m.vocab_size = arch.at("vocab_size").get<int>();
  m.max_seq_len = arch.at("max_seq_len").get<int>();
  const Json& tok = j.at("tokenizer");
  if (tok.at("file").is_string()) m.tokenizer_file = tok.at("file").get<std::string>();
  if (!tok.at("bos_id").is_null()) m.bos_id = tok.at("bos_id").get<int>();
  m.add_bos = tok.at("add_bos").get<bool>();
  m.eos_ids = tok.at("eos_ids").get<std::vector<int>>();
  m.method = j.at("io").at("method").get<std::string>();
  for (const auto& [name, entry] : j.at("files").items())
    m.files[name] = FileEntry{entry.at("bytes").get<uint64_t>(), entry.at("sha256").get<std::string>()};
  return m;
}

// artifact.check_manifest's rules across fields, after the schema.
void check_fields(const Manifest& m, const std::string& label) {
  auto bad = [&](const std::string& field, const std::string& problem) {
    return UsageError(label + ": " + field + ": " + problem + ": " + kFix);
  };
  if (m.n_heads % m.n_kv_heads)
    throw bad("arch.n_kv_heads", std::to_string(m.n_kv_heads) + " does not divide arch.n_heads " +
                                     std::to_string(m.n_heads));
  const std::string vocab = " is outside the vocabulary of " + std::to_string(m.vocab_size);
  for (size_t i = 0; i < m.eos_ids.size(); ++i)
    if (m.eos_ids[i] >= m.vocab_size)
      throw bad("tokenizer.eos_ids[" + std::to_string(i) + "]", std::to_string(m.eos_ids[i]) + vocab);
  if (m.bos_id && *m.bos_id >= m.vocab_size) throw bad("tokenizer.bos_id", std::to_string(*m.bos_id) + vocab);
  // Python writes repr(method): quoted, and the schema's pattern leaves nothing to escape.
  const std::string suffix = ".onnx";
  if (m.format == "onnx" && (m.method.size() < suffix.size() ||
                             m.method.compare(m.method.size() - suffix.size(), suffix.size(), suffix) != 0))
    throw bad("io.method", "'" + m.method + "' is not an .onnx file name");
  // The files a backend opens must be listed, so that they are verified.
  std::vector<std::string> required = {model_name(m)};
  if (m.format == "onnx") required.push_back("genai_config.json");
  if (!m.tokenizer_file.empty()) required.push_back(m.tokenizer_file);
  for (const auto& name : required)
    if (!m.files.count(name)) throw bad("files", name + " is not listed, so it could not be verified");
}

using Listing = std::vector<std::pair<std::string, uint64_t>>;  // relative name, bytes

// artifact.folder_files: every regular file under `folder` in os.walk's order (each folder's subfolders,
// then its other entries, then the subfolders' contents), following nothing. A link is refused whatever it
// points at: export never writes one, and a link is how a name inside the folder reads a file outside it.
void walk(const std::string& folder, const std::string& rel, const std::string& label, Listing& found) {
  const std::string dir = rel.empty() ? folder : folder + "/" + rel;
  std::unique_ptr<DIR, int (*)(DIR*)> handle(opendir(dir.c_str()), closedir);
  if (!handle) return;  // os.walk skips a folder it can't list: its listed files are then missing
  std::vector<std::string> dirs, others;  // split as os.walk splits: by stat, links followed
  while (const dirent* entry = readdir(handle.get())) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    (stat((dir + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode) ? dirs : others).push_back(name);
  }
  handle.reset();
  std::vector<std::string> subfolders;
  for (const auto* group : {&dirs, &others})
    for (const auto& name : *group) {
      const std::string child = rel.empty() ? name : rel + "/" + name;
      struct stat st;
      if (lstat((folder + "/" + child).c_str(), &st) != 0)
        throw UsageError(label + ": cannot read " + child + " (" + std::strerror(errno) + "): copy the whole folder");
      if (S_ISLNK(st.st_mode))
        throw UsageError(label + ": " + child + " is a symbolic link: an artifact folder holds plain files only; "
                         "copy the real file in (cp -L) or re-export");
      if (S_ISREG(st.st_mode))
        found.emplace_back(child, static_cast<uint64_t>(st.st_size));
      else if (S_ISDIR(st.st_mode))
        subfolders.push_back(child);
      else
        throw UsageError(label + ": " + child + " is not a regular file: remove it or re-export");
    }
  for (const auto& sub : subfolders) walk(folder, sub, label, found);
}

// artifact.verify_files: the folder holds exactly the listed files (and the manifest), each of its listed
// size and sha256; `files` is the manifest's object, in its order.
void verify_files(const std::string& folder, const std::string& label, const Json& files, bool verify_sha256) {
  Listing listing;
  walk(folder, "", label, listing);
  std::map<std::string, uint64_t> present;
  for (const auto& [name, bytes] : listing) {
    if (name == kManifestFile) continue;
    if (!files.contains(name))
      throw UsageError(label + ": " + name + " is in the folder but not in the manifest, so it cannot be verified: "
                       "remove it, or re-export the artifact");
    present[name] = bytes;
  }
  for (const auto& [name, entry] : files.items()) {
    auto found = present.find(name);
    if (found == present.end())
      throw UsageError(label + ": " + name + " is missing: re-export or copy the whole folder");
    const auto bytes = entry.at("bytes").get<uint64_t>();
    if (found->second != bytes)
      throw UsageError(label + ": " + name + " is " + std::to_string(found->second) + " bytes, manifest says " +
                       std::to_string(bytes) + ": the copy is incomplete or corrupt; copy or re-export it");
    if (verify_sha256 && sha256_file(folder + "/" + name) != entry.at("sha256").get<std::string>())
      throw UsageError(label + ": " + name + " fails its sha256 check: the file is corrupt; copy or re-export it");
  }
}

}  // namespace

std::string Manifest::model_file() const { return path(model_name(*this)); }

Manifest read_manifest(const std::string& folder, bool verify_sha256) {
  struct stat st;
  if (stat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw UsageError(folder + " is not an artifact folder: pass a folder made by `edgereason export`");
  const std::string path = folder + "/" + kManifestFile;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    throw UsageError(folder + " has no manifest.json: pass a folder made by `edgereason export`");
  const Json data = read_json(path, "an artifact manifest", kFix);
  const std::string name = base_name(folder), label = name + "/" + kManifestFile;

  // An integer other than 1 is named as a newer (or older) format, before the schema checks its fields.
  const Json version = data.is_object() ? data.value("schema_version", Json()) : Json();
  if (is_integer(version) && version != kSchemaVersion)
    throw UsageError(label + ": schema_version " + first_chars(dumps(version), 20) + " is not " +
                     std::to_string(kSchemaVersion) + ": re-export the artifact with this edgereason version");
  static const Schema schema(Json::parse(kManifestSchema));
  schema.validate(data, label, kFix);
  Manifest m = from_json(folder, data);
  check_fields(m, label);

  // This runner's own rule, before any file is hashed: a valid artifact it has no program for.
  bool known = false;
  for (const char* arch : kArchitectures) known = known || m.architecture == arch;
  if (!known)
    throw UsageError(label + ": arch.architecture: '" + m.architecture +
                     "' is not supported by edgereason-run: use a Llama-family artifact (LlamaForCausalLM, "
                     "Qwen2ForCausalLM, Qwen3ForCausalLM, MobileLLMForCausalLM)");
  verify_files(folder, name, data.at("files"), verify_sha256);
  return m;
}

}  // namespace edgereason
