#include "engine/checkpoint.h"

#include <filesystem>
#include <stdexcept>

#include <unistd.h>

#include "engine/errors.h"

namespace anneal {

void save_params(const std::string& path, const Params& params, const std::map<std::string, std::string>& metadata) {
  std::unordered_map<std::string, mx::array> arrays(params.begin(), params.end());
  std::unordered_map<std::string, std::string> meta(metadata.begin(), metadata.end());
  meta.emplace("format", "anneal-model");
  write_safetensors(path, arrays, meta);
}

std::string temporary_path(const std::string& path) {
  const std::string suffix = ".safetensors";
  const bool has = path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  return (has ? path.substr(0, path.size() - suffix.size()) : path) + ".tmp-" + std::to_string(::getpid()) + suffix;
}

Params load_params(const std::string& path) {
  auto [arrays, meta] = read_safetensors(path, "checkpoint");
  Params p;
  for (auto& [k, v] : arrays) p.insert_or_assign(k, mx::astype(v, mx::float32));
  mx::eval(flatten(p));
  return p;
}

SafetensorsFile read_safetensors(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw FileNotFoundError("no such " + what + ": " + path);
  if (std::filesystem::is_directory(path, ec)) {
    throw FileError(what + " " + path + " is a directory");
  }
  try {
    return mx::load_safetensors(path);
  } catch (const std::exception& e) {
    throw FileError(what + " " + path + " is not a readable safetensors file (" + e.what() + ")");
  }
}

void write_safetensors(const std::string& path,
                       const std::unordered_map<std::string, mx::array>& arrays,
                       const std::unordered_map<std::string, std::string>& metadata) {
  const std::string tmp = temporary_path(path);
  try {
    mx::save_safetensors(tmp, arrays, metadata);
    std::filesystem::rename(tmp, path);
  } catch (const std::exception& e) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw FileError("cannot write " + path + " (" + e.what() + ")");
  }
}

}  // namespace anneal
