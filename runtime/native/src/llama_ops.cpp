// ExecuTorch kernels for the two LLM custom ops that export_llm programs call, written against the
// runtime's kernel registry. The wheel carries them only inside its Python plugin
// (libcustom_ops_aot_lib.so, which needs libtorch and the Python extension), so a standalone
// runner brings its own. Schemas (extension/llm/custom_ops):
//   llama::update_cache.out(Tensor value, Tensor(a!) cache, SymInt start_pos, *, Tensor(b!) out)
//   llama::custom_sdpa.out(Tensor query, Tensor key, Tensor value, SymInt start_pos,
//       Tensor? attn_mask, float drpout_p, bool is_causal, float? scale, *, Tensor(a!) out)
// Layouts: value/query [B, S, H, D]; caches [B, S_max, H_kv, D]; fp32 only (the KV cache is fp32
// in every recipe, DESIGN.md section 6).
#include <executorch/runtime/kernel/kernel_includes.h>
#include <executorch/runtime/kernel/operator_registry.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "pte_backend.h"

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

// Dot product over independent partial sums, so the compiler vectorizes it without reordering
// a single accumulator (which it may not do without -ffast-math).
inline float dot(const float* a, const float* b, int64_t n) {
  constexpr int64_t kLanes = 8;
  float lanes[kLanes] = {};
  int64_t d = 0;
  for (; d + kLanes <= n; d += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] += a[d + l] * b[d + l];
  float sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
  for (; d < n; ++d) sum += a[d] * b[d];
  return sum;
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
  std::vector<float> scores(static_cast<size_t>(start_pos + S));
  std::vector<float> acc(static_cast<size_t>(D));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < S; ++i) {
      const int64_t seen = is_causal ? start_pos + i + 1 : start_pos + S;
      for (int64_t h = 0; h < Hq; ++h) {
        const float* qrow = qd + ((b * S + i) * Hq + h) * D;
        const int64_t hk = h / group;
        float peak = -INFINITY;
        for (int64_t j = 0; j < seen; ++j) {
          const float* krow = kd + ((b * S_max + j) * Hkv + hk) * D;
          scores[j] = dot(qrow, krow, D) * static_cast<float>(scale);
          peak = std::max(peak, scores[j]);
        }
        float total = 0.f;
        for (int64_t j = 0; j < seen; ++j) total += scores[j] = std::exp(scores[j] - peak);
        std::fill(acc.begin(), acc.end(), 0.f);
        for (int64_t j = 0; j < seen; ++j) {
          const float* vrow = vd + ((b * S_max + j) * Hkv + hk) * D;
          const float w = scores[j] / total;
          for (int64_t d = 0; d < D; ++d) acc[d] += w * vrow[d];
        }
        std::copy(acc.begin(), acc.end(), od + ((b * S + i) * Hq + h) * D);
      }
    }
}

}  // namespace

void register_llama_ops() {
  static const bool registered = [] {
    static const executorch::runtime::Kernel kernels[] = {
        executorch::runtime::Kernel("llama::update_cache.out", update_cache_out),
        executorch::runtime::Kernel("llama::custom_sdpa.out", custom_sdpa_out),
    };
    return executorch::runtime::register_kernels({kernels, 2}) == Error::Ok;
  }();
  if (!registered) throw std::runtime_error("registering the llama custom op kernels failed");
}

}  // namespace edgereason
