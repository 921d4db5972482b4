// Picks the backend for the manifest's format among those this build was compiled with.
#include "backend.h"
#include "errors.h"
#include "manifest.h"
#ifdef EDGEREASON_WITH_PTE
#include "pte_backend.h"
#endif
#ifdef EDGEREASON_WITH_ONNX
#include "onnx_backend.h"
#endif

namespace edgereason {

std::unique_ptr<Backend> make_backend(const Manifest& manifest, int num_threads) {
#ifdef EDGEREASON_WITH_PTE
  if (manifest.format == "pte") return make_pte_backend(manifest, num_threads);
#endif
#ifdef EDGEREASON_WITH_ONNX
  if (manifest.format == "onnx") return make_onnx_backend(manifest, num_threads);
#endif
  (void)num_threads;
  throw UsageError("this edgereason-run was built without " + manifest.format +
                   " support: rebuild with -DEDGEREASON_WITH_" + (manifest.format == "pte" ? "PTE" : "ONNX") + "=ON");
}

}  // namespace edgereason
