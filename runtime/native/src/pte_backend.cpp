#include "pte_backend.h"

#include <executorch/extension/data_loader/mmap_data_loader.h>
#include <executorch/extension/memory_allocator/malloc_memory_allocator.h>
#include <executorch/runtime/executor/method.h>
#include <executorch/runtime/executor/program.h>
#include <executorch/runtime/platform/runtime.h>

#include <algorithm>
#include <optional>
#include <string>

#include "errors.h"
#include "llama_ops.h"
#include "manifest.h"

// The wheel ships the thread pool library but not its header; these are its two entry points.
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

namespace edgereason {
namespace {

using executorch::aten::ScalarType;
using executorch::aten::Tensor;
using executorch::aten::TensorImpl;
using executorch::runtime::Error;
using executorch::runtime::EValue;

std::string error_name(Error e) { return "ExecuTorch error " + std::to_string(static_cast<int>(e)); }

class PteBackend final : public Backend {
 public:
  PteBackend(const Manifest& manifest, int num_threads) : max_seq_len_(manifest.max_seq_len) {
    executorch::runtime::runtime_init();
    install_llama_ops();
    if (num_threads > 0) executorch::extension::threadpool::get_threadpool()->_unsafe_reset_threadpool(num_threads);
    std::string file = manifest.model_file();
    auto loader = executorch::extension::MmapDataLoader::from(
        file.c_str(), executorch::extension::MmapDataLoader::MlockConfig::NoMlock);
    if (!loader.ok()) throw UsageError(file + " cannot be opened (" + error_name(loader.error()) + ")");
    loader_.emplace(std::move(loader.get()));
    auto program = executorch::runtime::Program::load(&*loader_, executorch::runtime::Program::Verification::Minimal);
    if (!program.ok())
      throw UsageError(file + " is not a valid ExecuTorch program (" + error_name(program.error()) +
                       "): re-export the artifact");
    program_.emplace(std::move(program.get()));
    const char* method = manifest.method.c_str();
    auto meta = program_->method_meta(method);
    if (!meta.ok()) throw UsageError(file + " has no method '" + manifest.method + "': re-export the artifact");
    // Memory the exporter planned: one buffer per planned arena, sized by the program itself.
    for (size_t i = 0; i < meta->num_memory_planned_buffers(); ++i) {
      planned_.emplace_back(static_cast<size_t>(meta->memory_planned_buffer_size(i).get()));
      spans_.emplace_back(planned_.back().data(), planned_.back().size());
    }
    planned_memory_ = std::make_unique<executorch::runtime::HierarchicalAllocator>(
        executorch::runtime::Span<executorch::runtime::Span<uint8_t>>(spans_.data(), spans_.size()));
    memory_ = std::make_unique<executorch::runtime::MemoryManager>(&method_allocator_, planned_memory_.get(),
                                                                   &temp_allocator_);
    auto loaded = program_->load_method(method, memory_.get());
    if (!loaded.ok())
      throw std::runtime_error("loading method '" + manifest.method + "' of " + file + " failed (" +
                               error_name(loaded.error()) + "; a missing operator or backend is logged above)");
    method_.emplace(std::move(loaded.get()));
    has_hidden_ = method_->outputs_size() > 1;  // the probes' hidden state, [1, H]; older artifacts: logits only
  }

  std::vector<float> forward(const std::vector<int64_t>& tokens, int64_t position) override {
    // export_llm bounds the dynamic token dimension at max_seq_len - 1: prefill in chunks.
    const size_t max_chunk = static_cast<size_t>(max_seq_len_ - 1);
    const EValue* logits = nullptr;
    for (size_t start = 0; start < tokens.size(); start += max_chunk) {
      std::vector<int64_t> chunk(tokens.begin() + start, tokens.begin() + std::min(tokens.size(), start + max_chunk));
      int64_t pos = position + static_cast<int64_t>(start);
      TensorImpl::SizesType ids_sizes[2] = {1, static_cast<TensorImpl::SizesType>(chunk.size())};  // [1, T]
      TensorImpl::DimOrderType ids_order[2] = {0, 1};
      TensorImpl::StridesType ids_strides[2] = {static_cast<TensorImpl::StridesType>(chunk.size()), 1};
      TensorImpl ids(ScalarType::Long, 2, ids_sizes, chunk.data(), ids_order, ids_strides);
      TensorImpl::SizesType pos_sizes[1] = {1};  // [1]
      TensorImpl::DimOrderType pos_order[1] = {0};
      TensorImpl::StridesType pos_strides[1] = {1};
      TensorImpl pos_tensor(ScalarType::Long, 1, pos_sizes, &pos, pos_order, pos_strides);
      check(method_->set_input(EValue(Tensor(&ids)), 0), "setting the tokens input");
      check(method_->set_input(EValue(Tensor(&pos_tensor)), 1), "setting the input_pos input");
      check(method_->execute(), "executing the method");
      temp_allocator_.reset();
      logits = &method_->get_output(0);
    }
    if (has_hidden_) hidden_ = last_row(method_->get_output(1), "hidden state");  // [1, H]
    return last_row(*logits, "logits");  // [1, V]
  }

 private:
  // The last row of a float32 output, copied: the output aliases the program's buffer, which the next call
  // overwrites.
  static std::vector<float> last_row(const EValue& value, const std::string& what) {
    if (!value.isTensor()) throw std::runtime_error("the program's " + what + " output is not a tensor");
    const Tensor out = value.toTensor();
    if (out.scalar_type() != ScalarType::Float) throw std::runtime_error("the program's " + what + " is not float32");
    const float* data = out.const_data_ptr<float>();
    return std::vector<float>(data + out.numel() - out.size(out.dim() - 1), data + out.numel());
  }

  static void check(Error e, const char* what) {
    if (e != Error::Ok) throw std::runtime_error(std::string(what) + " failed (" + error_name(e) + ")");
  }

  int64_t max_seq_len_;
  std::optional<executorch::extension::MmapDataLoader> loader_;
  std::optional<executorch::runtime::Program> program_;
  std::vector<std::vector<uint8_t>> planned_;
  std::vector<executorch::runtime::Span<uint8_t>> spans_;
  executorch::extension::MallocMemoryAllocator method_allocator_, temp_allocator_;
  std::unique_ptr<executorch::runtime::HierarchicalAllocator> planned_memory_;
  std::unique_ptr<executorch::runtime::MemoryManager> memory_;
  std::optional<executorch::runtime::Method> method_;
};

}  // namespace

std::unique_ptr<Backend> make_pte_backend(const Manifest& manifest, int num_threads) {
  return std::make_unique<PteBackend>(manifest, num_threads);
}

}  // namespace edgereason
