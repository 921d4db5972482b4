// SHA-256 of a file, streamed (FIPS 180-4), for the manifest's checksums.
#pragma once

#include <string>

namespace edgereason {

// Lower-case hex digest; throws std::runtime_error if the file can't be read.
std::string sha256_file(const std::string& path);

}  // namespace edgereason
