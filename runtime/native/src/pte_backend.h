// ExecuTorch `.pte` through the Program/Method API: the program the phone runs, KV cache inside it.
#pragma once

#include <memory>

#include "backend.h"

namespace edgereason {

std::unique_ptr<Backend> make_pte_backend(const Manifest& manifest, int num_threads);

}  // namespace edgereason
