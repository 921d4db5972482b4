// The backend contract (DESIGN.md section 7, runtime/backends/base.py): tokens in at a position,
// float32 logits of the last position out. The caches are position-addressed (writing from p
// overwrites them and attention reads only [0, p + T)), so reset and rewind need no work.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace edgereason {

struct Manifest;

class Backend {
 public:
  virtual ~Backend() = default;
  // Runs `tokens` at `position` (the cache holds `position` tokens); logits of the last one, [V].
  virtual std::vector<float> forward(const std::vector<int64_t>& tokens, int64_t position) = 0;
  // The probes' hidden state (the residual stream entering artifact.probe_layer) at the last position of the latest
  // forward, [H] (runtime/backends/base.py hidden); empty when the model has no such output (an older export).
  const std::vector<float>& hidden() const { return hidden_; }
  bool has_hidden() const { return has_hidden_; }

 protected:
  bool has_hidden_ = false;  // set by a backend whose model outputs the hidden state; forward then fills hidden_
  std::vector<float> hidden_;
};

// The backend for the manifest's format; throws UsageError when this build lacks it.
std::unique_ptr<Backend> make_backend(const Manifest& manifest, int num_threads);

}  // namespace edgereason
