// Prints a hash of the attention kernel's outputs (attention.cpp) on fixed inputs, for several head
// sizes, group sizes and context lengths. tests/test_native.py runs it on x86_64 and on aarch64
// (qemu) and requires the same hash: the kernel's arithmetic does not depend on the ISA.
//   edgereason-attention-test
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "attention.h"

namespace {

// Inputs from integers only, so they are the same everywhere: uniform in [-2, 2) on a 2^-22 grid.
struct Inputs {
  uint64_t state;
  float next() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<float>(static_cast<int32_t>(state >> 40) - (1 << 23)) * (1.0f / (1 << 22));
  }
};

}  // namespace

int main() {
  uint64_t hash = 1469598103934665603ULL;  // FNV-1a over the output bits
  int cases = 0;
  for (int64_t D : {64, 128, 48})
    for (int64_t G : {1, 3, 8}) {
      const int64_t S = 700, Hkv = 2;
      Inputs in{static_cast<uint64_t>(D * 31 + G)};
      std::vector<float> k(S * Hkv * D), v(S * Hkv * D), q(G * D), out(G * D), scores(G * S);
      for (auto& x : k) x = in.next();
      for (auto& x : v) x = in.next();
      for (auto& x : q) x = in.next();
      for (int64_t seen : {1, 2, 9, 64, 333, 700}) {
        edgereason::attend(q.data(), k.data() + D, v.data() + D, Hkv * D, D, G, seen, 0.125f, scores.data(),
                           out.data());
        for (float x : out) {
          uint32_t bits;
          std::memcpy(&bits, &x, sizeof bits);
          hash = (hash ^ bits) * 1099511628211ULL;
        }
        ++cases;
      }
    }
  std::printf("%d cases, hash %016llx\n", cases, static_cast<unsigned long long>(hash));
  return 0;
}
