// Unicode category tables for the byte-level BPE pre-tokenizer (generated: tools/gen_unicode_tables.py).
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgereason {

struct CodeRange {
  uint32_t first, last;
};

extern const CodeRange kLetterRanges[];  // \p{L}
extern const size_t kLetterRanges_size;
extern const CodeRange kNumberRanges[];  // \p{N}
extern const size_t kNumberRanges_size;

}  // namespace edgereason
