// ExecuTorch kernels for the two LLM custom ops that export_llm programs call, written against the
// runtime's kernel registry. The wheel carries them only inside its Python plugin
// (libcustom_ops_aot_lib.so, which needs libtorch and the Python extension), so a standalone
// runner brings its own, and the Python runtime uses these too: int4 `.pte` programs quantize
// activations per token, so a 1e-6 difference in attention output flips roundings and moves
// logits by ~1 (measured, README "Why the runner carries two kernels"). Schemas (extension/llm/custom_ops):
//   llama::update_cache.out(Tensor value, Tensor(a!) cache, SymInt start_pos, *, Tensor(b!) out)
//   llama::custom_sdpa.out(Tensor query, Tensor key, Tensor value, SymInt start_pos,
//       Tensor? attn_mask, float drpout_p, bool is_causal, float? scale, *, Tensor(a!) out)
// Layouts: value/query [B, S, H, D]; caches [B, S_max, H_kv, D]; fp32 only (the KV cache is fp32
// in every recipe, DESIGN.md section 6).
#include <executorch/runtime/kernel/kernel_includes.h>
#include <executorch/runtime/kernel/operator_registry.h>
#include <executorch/runtime/kernel/thread_parallel_interface.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "attention.h"
#include "llama_ops.h"

namespace edgereason {
namespace {

using executorch::aten::ScalarType;
using executorch::aten::Tensor;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::KernelRuntimeContext;
using executorch::runtime::Span;

void fail(KernelRuntimeContext& context, const char* op, const char* why) {
  ET_LOG(Error, "%s: %s", op, why);
  context.fail(Error::InvalidArgument);
}

// Copies value [B, S, H, D] into cache [B, S_max, H, D] at rows [start_pos, start_pos + S).
void update_cache_out(KernelRuntimeContext& context, Span<EValue*> stack) {
  const char* op = "llama::update_cache.out";
  if (stack.size() < 4) return fail(context, op, "expected 4 arguments");
  const Tensor& value = stack[0]->toTensor();
  Tensor& cache = stack[1]->toTensor();
  const int64_t start_pos = stack[2]->toInt();
  if (value.dim() != 4 || cache.dim() != 4 || value.scalar_type() != cache.scalar_type())
    return fail(context, op, "value and cache must be 4-D tensors of one dtype");
  const int64_t B = value.size(0), S = value.size(1), H = value.size(2), D = value.size(3);
  const int64_t S_max = cache.size(1);
  if (cache.size(0) != B || cache.size(2) != H || cache.size(3) != D)
    return fail(context, op, "value and cache differ in batch, heads or head size");
  if (start_pos < 0 || start_pos + S > S_max) return fail(context, op, "start_pos + length exceeds the cache");
  const size_t row_bytes = static_cast<size_t>(H * D) * value.element_size();
  const auto* src = static_cast<const uint8_t*>(value.const_data_ptr());
  auto* dst = static_cast<uint8_t*>(cache.mutable_data_ptr());
  for (int64_t b = 0; b < B; ++b)
    std::memcpy(dst + (b * S_max + start_pos) * row_bytes, src + b * S * row_bytes, S * row_bytes);
}

// Attention of query rows (absolute positions start_pos + i) over cache rows [0, start_pos + S),
// causal when asked: row i sees cache rows <= start_pos + i. Grouped-query: query head h reads
// kv head h / (H_q / H_kv).
void custom_sdpa_out(KernelRuntimeContext& context, Span<EValue*> stack) {
  const char* op = "llama::custom_sdpa.out";
  if (stack.size() < 9) return fail(context, op, "expected 9 arguments");
  const Tensor& q = stack[0]->toTensor();
  const Tensor& k = stack[1]->toTensor();
  const Tensor& v = stack[2]->toTensor();
  const int64_t start_pos = stack[3]->toInt();
  if (!stack[4]->isNone()) return fail(context, op, "an explicit attn_mask is not supported");
  const bool is_causal = stack[6]->toBool();
  Tensor& out = stack[8]->toTensor();
  if (q.scalar_type() != ScalarType::Float || k.scalar_type() != ScalarType::Float ||
      v.scalar_type() != ScalarType::Float || out.scalar_type() != ScalarType::Float)
    return fail(context, op, "only float32 is supported");
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4) return fail(context, op, "tensors must be 4-D");
  const int64_t B = q.size(0), S = q.size(1), Hq = q.size(2), D = q.size(3);
  const int64_t S_max = k.size(1), Hkv = k.size(2);
  if (Hkv == 0 || Hq % Hkv != 0 || k.size(3) != D || start_pos + S > S_max)
    return fail(context, op, "query and cache shapes do not fit together");
  const double scale = stack[7]->isNone() ? 1.0 / std::sqrt(static_cast<double>(D)) : stack[7]->toDouble();
  if (executorch::runtime::resize_tensor(out, q.sizes()) != Error::Ok) return fail(context, op, "cannot resize out");
  const float* qd = q.const_data_ptr<float>();
  const float* kd = k.const_data_ptr<float>();
  const float* vd = v.const_data_ptr<float>();
  float* od = out.mutable_data_ptr<float>();
  const int64_t group = Hq / Hkv;
  const float fscale = static_cast<float>(scale);
  if (group > kMaxGroup || D > kMaxHeadSize)
    return fail(context, op, "at most 8 query heads per kv head and a head size of at most 256 are supported");
  // One task per (batch, query row, kv head): its `group` query heads are contiguous in q and out
  // ([B, S, Hq, D]). The result does not depend on --threads.
  const bool ok = executorch::extension::parallel_for(0, B * S * Hkv, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(group * (start_pos + S)));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t hk = task % Hkv, i = (task / Hkv) % S, b = task / (Hkv * S);
      const int64_t seen = is_causal ? start_pos + i + 1 : start_pos + S;
      const int64_t rows = ((b * S + i) * Hq + hk * group) * D;  // the group's first query row
      const int64_t head = (b * S_max * Hkv + hk) * D;            // the kv head's row 0 in the cache
      attend(qd + rows, kd + head, vd + head, Hkv * D, D, group, seen, fscale, scores.data(), od + rows);
    }
  });
  if (!ok) fail(context, op, "the thread pool failed");
}

}  // namespace

void install_llama_ops() {
  static const executorch::runtime::Kernel ours[] = {
      executorch::runtime::Kernel("llama::update_cache.out", update_cache_out),
      executorch::runtime::Kernel("llama::custom_sdpa.out", custom_sdpa_out),
  };
  // The registry refuses (and aborts on) a second registration of a name, so where the Python
  // plugin came first its entries are repointed; a Method resolves kernels when it is loaded.
  const auto registered = executorch::runtime::get_registered_kernels();
  for (const auto& kernel : ours) {
    bool replaced = false;
    for (const auto& entry : registered)
      if (std::strcmp(entry.name_, kernel.name_) == 0) {
        const_cast<executorch::runtime::Kernel&>(entry).op_ = kernel.op_;
        replaced = true;
      }
    if (!replaced && executorch::runtime::register_kernels({&kernel, 1}) != Error::Ok)
      throw std::runtime_error(std::string("registering ") + kernel.name_ + " failed");
  }
}

}  // namespace edgereason

extern "C" int edgereason_install_llama_ops() {
  try {
    edgereason::install_llama_ops();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edgereason: %s\n", e.what());
    return 1;
  }
}
