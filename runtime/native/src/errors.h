// Errors the runner raises on purpose. A UsageError is the user's to fix (bad flag, path or file):
// main prints its one line and exits 2; any other std::exception exits 1.
#pragma once

#include <stdexcept>
#include <string>

namespace edgereason {

struct UsageError : std::runtime_error {
  explicit UsageError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace edgereason
