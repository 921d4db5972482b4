#include "onnx_backend.h"

#include <onnxruntime_c_api.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "calibrator.h"
#include "errors.h"
#include "manifest.h"

namespace edgereason {
namespace {

const OrtApi& ort() {
  static const OrtApi* api = OrtGetApiBase()->GetApi(ORT_API_VERSION);
  if (!api) throw std::runtime_error("the ONNX Runtime library is older than the headers this runner was built with");
  return *api;
}

void check(OrtStatus* status, const char* what) {
  if (!status) return;
  std::string message = ort().GetErrorMessage(status);
  ort().ReleaseStatus(status);
  throw std::runtime_error(std::string(what) + ": " + message);
}

// Owns one ORT object and releases it with its matching Release function.
template <typename T, void (*Release)(T*)>
struct Owned {
  T* ptr = nullptr;
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (ptr) Release(ptr);
  }
};
void release_env(OrtEnv* p) { ort().ReleaseEnv(p); }
void release_options(OrtSessionOptions* p) { ort().ReleaseSessionOptions(p); }
void release_session(OrtSession* p) { ort().ReleaseSession(p); }
void release_binding(OrtIoBinding* p) { ort().ReleaseIoBinding(p); }
void release_value(OrtValue* p) { ort().ReleaseValue(p); }
void release_memory_info(OrtMemoryInfo* p) { ort().ReleaseMemoryInfo(p); }
using Value = Owned<OrtValue, release_value>;

std::string format_name(const std::string& pattern, int layer) {
  char buffer[256];
  std::snprintf(buffer, sizeof(buffer), pattern.c_str(), layer);
  return buffer;
}

class OnnxBackend final : public Backend {
 public:
  OnnxBackend(const Manifest& manifest, int num_threads) : max_seq_len_(manifest.max_seq_len), vocab_(manifest.vocab_size) {
    std::ifstream in(manifest.path("genai_config.json"));
    if (!in) throw UsageError(manifest.folder + " has no genai_config.json: re-export the onnx artifact");
    // The graph has no position_ids input and a symbolic head size: shapes come from the config.
    const auto decoder = nlohmann::json::parse(in).at("model").at("decoder");
    num_layers_ = decoder.at("num_hidden_layers").get<int>();
    num_kv_heads_ = decoder.at("num_key_value_heads").get<int>();
    head_dim_ = decoder.at("head_size").get<int>();
    const auto& inputs = decoder.at("inputs");
    const auto& outputs = decoder.at("outputs");
    for (int i = 0; i < num_layers_; ++i) {
      past_.push_back({format_name(inputs.at("past_key_names"), i), format_name(inputs.at("past_value_names"), i)});
      present_.push_back(
          {format_name(outputs.at("present_key_names"), i), format_name(outputs.at("present_value_names"), i)});
    }
    check(ort().CreateEnv(ORT_LOGGING_LEVEL_WARNING, "edgereason", &env_.ptr), "creating the ONNX Runtime env");
    check(ort().CreateSessionOptions(&options_.ptr), "creating session options");
    if (num_threads > 0) {
      check(ort().SetIntraOpNumThreads(options_.ptr, num_threads), "setting intra-op threads");
      check(ort().SetInterOpNumThreads(options_.ptr, 1), "setting inter-op threads");
    }
    check(ort().SetSessionGraphOptimizationLevel(options_.ptr, ORT_ENABLE_ALL), "setting the optimization level");
    std::string file = manifest.model_file();
    check(ort().CreateSession(env_.ptr, file.c_str(), options_.ptr, &session_.ptr), ("loading " + file).c_str());
    check(ort().CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &memory_.ptr), "creating memory info");
    check_vocab(manifest);
    // Older artifacts have no hidden-state output: the runner then runs without (a calibrator's probes refuse).
    if (const auto dims = output_dims(hidden_output())) {
      if (dims->size() != 3 || (*dims)[2] <= 0)
        throw UsageError(manifest.model_file() + "'s " + hidden_output() + " output is not [batch, sequence, H]: "
                         "re-export the onnx artifact");
      has_hidden_ = true;
      hidden_size_ = (*dims)[2];
    }
    allocate_cache();
  }

  std::vector<float> forward(const std::vector<int64_t>& tokens, int64_t position) override {
    const int64_t T = static_cast<int64_t>(tokens.size());
    std::vector<int64_t> ids(tokens);
    std::vector<int64_t> mask(static_cast<size_t>(position + T), 1);
    std::vector<float> logits(static_cast<size_t>(T * vocab_));
    const int64_t ids_shape[2] = {1, T};                // [1, T]
    const int64_t mask_shape[2] = {1, position + T};    // [1, P + T]
    const int64_t logits_shape[3] = {1, T, vocab_};     // [1, T, V]
    Value ids_value, mask_value, logits_value;
    tensor(ids.data(), ids.size() * sizeof(int64_t), ids_shape, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, ids_value);
    tensor(mask.data(), mask.size() * sizeof(int64_t), mask_shape, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, mask_value);
    tensor(logits.data(), logits.size() * sizeof(float), logits_shape, 3, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT,
           logits_value);
    check(ort().BindInput(binding_.ptr, "input_ids", ids_value.ptr), "binding input_ids");
    check(ort().BindInput(binding_.ptr, "attention_mask", mask_value.ptr), "binding attention_mask");
    check(ort().BindOutput(binding_.ptr, "logits", logits_value.ptr), "binding logits");
    std::vector<float> hidden(static_cast<size_t>(has_hidden_ ? T * hidden_size_ : 0));
    const int64_t hidden_shape[3] = {1, T, hidden_size_};  // [1, T, H]
    Value hidden_value;
    if (has_hidden_) {
      tensor(hidden.data(), hidden.size() * sizeof(float), hidden_shape, 3, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT,
             hidden_value);
      check(ort().BindOutput(binding_.ptr, hidden_output().c_str(), hidden_value.ptr), "binding the hidden state");
    }
    check(ort().RunWithBinding(session_.ptr, nullptr, binding_.ptr), "running the model");
    hidden_.assign(hidden.end() - (has_hidden_ ? hidden_size_ : 0), hidden.end());  // the last position's
    return std::vector<float>(logits.end() - vocab_, logits.end());
  }

 private:
  void tensor(void* data, size_t bytes, const int64_t* shape, size_t rank, ONNXTensorElementDataType type, Value& out) {
    check(ort().CreateTensorWithDataAsOrtValue(memory_.ptr, data, bytes, shape, rank, type, &out.ptr),
          "creating a tensor");
  }

  // The graph's output `wanted`'s dims (a symbolic one is -1), or nullopt when it has none of that name.
  std::optional<std::vector<int64_t>> output_dims(const std::string& wanted) {
    size_t count = 0;
    check(ort().SessionGetOutputCount(session_.ptr, &count), "reading the outputs");
    OrtAllocator* allocator = nullptr;
    check(ort().GetAllocatorWithDefaultOptions(&allocator), "getting the default allocator");
    for (size_t i = 0; i < count; ++i) {
      char* name = nullptr;
      check(ort().SessionGetOutputName(session_.ptr, i, allocator, &name), "reading an output name");
      const bool found = name == wanted;
      check(ort().AllocatorFree(allocator, name), "freeing an output name");
      if (!found) continue;
      OrtTypeInfo* type = nullptr;
      check(ort().SessionGetOutputTypeInfo(session_.ptr, i, &type), "reading an output's type");
      const OrtTensorTypeAndShapeInfo* info = nullptr;
      size_t rank = 0;
      check(ort().CastTypeInfoToTensorInfo(type, &info), "reading an output's shape");
      check(ort().GetDimensionsCount(info, &rank), "reading an output's rank");
      std::vector<int64_t> dims(rank);
      check(ort().GetDimensions(info, dims.data(), rank), "reading an output's dims");
      ort().ReleaseTypeInfo(type);
      return dims;
    }
    return std::nullopt;
  }

  // The graph's logits are [batch, sequence, V] with V fixed: a manifest that disagrees describes
  // another model.
  void check_vocab(const Manifest& manifest) {
    const auto dims = output_dims("logits");
    if (!dims) throw UsageError(manifest.model_file() + " has no 'logits' output: re-export the onnx artifact");
    if (dims->size() == 3 && (*dims)[2] > 0 && (*dims)[2] != vocab_)
      throw UsageError("the model returns " + std::to_string((*dims)[2]) + " logits but manifest arch.vocab_size is " +
                       std::to_string(manifest.vocab_size) +
                       ": the manifest does not describe this model; re-export the artifact");
  }

  // The graph output with the probes' hidden state (edgereason/specs/probes.json onnx_output).
  static const std::string& hidden_output() {
    static const std::string name = probes_spec().at("onnx_output").get<std::string>();
    return name;
  }

  // One [1, KV, max_seq_len, D] buffer per layer and per K/V, bound as both the past input and the
  // present output: GroupQueryAttention writes new entries in place (past_present_share_buffer).
  void allocate_cache() {
    const size_t per_buffer = static_cast<size_t>(num_kv_heads_) * max_seq_len_ * head_dim_;
    const int64_t shape[4] = {1, num_kv_heads_, max_seq_len_, head_dim_};
    cache_.assign(static_cast<size_t>(num_layers_) * 2, std::vector<float>(per_buffer, 0.f));
    cache_values_ = std::vector<Value>(cache_.size());
    check(ort().CreateIoBinding(session_.ptr, &binding_.ptr), "creating the IO binding");
    for (int i = 0; i < num_layers_; ++i)
      for (int kv = 0; kv < 2; ++kv) {
        Value& value = cache_values_[2 * i + kv];
        tensor(cache_[2 * i + kv].data(), per_buffer * sizeof(float), shape, 4, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT,
               value);
        check(ort().BindInput(binding_.ptr, (kv ? past_[i].second : past_[i].first).c_str(), value.ptr),
              "binding the past KV cache");
        check(ort().BindOutput(binding_.ptr, (kv ? present_[i].second : present_[i].first).c_str(), value.ptr),
              "binding the present KV cache");
      }
  }

  int64_t max_seq_len_, vocab_;
  int num_layers_ = 0;
  int64_t num_kv_heads_ = 0, head_dim_ = 0, hidden_size_ = 0;
  std::vector<std::pair<std::string, std::string>> past_, present_;
  Owned<OrtEnv, release_env> env_;
  Owned<OrtSessionOptions, release_options> options_;
  Owned<OrtSession, release_session> session_;
  Owned<OrtMemoryInfo, release_memory_info> memory_;
  std::vector<std::vector<float>> cache_;
  std::vector<Value> cache_values_;
  Owned<OrtIoBinding, release_binding> binding_;  // declared last: released before the values it binds
};

}  // namespace

std::unique_ptr<Backend> make_onnx_backend(const Manifest& manifest, int num_threads) {
  return std::make_unique<OnnxBackend>(manifest, num_threads);
}

}  // namespace edgereason
