// Exceptions the engine throws besides the standard ones. The addon turns each exception
// type into a JS error code in one place (addon/errors.cpp); add a type here, not a message
// prefix, when callers must tell a failure apart.
#pragma once

#include <stdexcept>
#include <string>

namespace anneal {

// A file the caller named does not exist.
class FileNotFoundError : public std::runtime_error {
 public:
  explicit FileNotFoundError(const std::string& what) : std::runtime_error(what) {}
};

// A file exists but cannot be read as what it should be (corrupt, cut short, another
// format), or cannot be written.
class FileError : public std::runtime_error {
 public:
  explicit FileError(const std::string& what) : std::runtime_error(what) {}
};

// Training cannot go on: the loss stays non-finite (after max_rollbacks restores, for the
// diffusion trainer).
class DivergenceError : public std::runtime_error {
 public:
  explicit DivergenceError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace anneal
