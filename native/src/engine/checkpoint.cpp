#include "engine/checkpoint.h"

#include <filesystem>
#include <stdexcept>

#include <unistd.h>

namespace anneal {

void save_params(const std::string& path, const Params& params, const std::map<std::string, std::string>& metadata) {
  std::unordered_map<std::string, mx::array> arrays(params.begin(), params.end());
  std::unordered_map<std::string, std::string> meta(metadata.begin(), metadata.end());
  meta.emplace("format", "anneal-model");
  const std::string tmp = temporary_path(path);
  mx::save_safetensors(tmp, arrays, meta);
  std::filesystem::rename(tmp, path);
}

std::string temporary_path(const std::string& path) {
  const std::string suffix = ".safetensors";
  const bool has = path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  return (has ? path.substr(0, path.size() - suffix.size()) : path) + ".tmp-" + std::to_string(::getpid()) + suffix;
}

Params load_params(const std::string& path) {
  if (!std::filesystem::exists(path)) throw std::invalid_argument("no such checkpoint: " + path);
  auto [arrays, meta] = mx::load_safetensors(path);
  Params p;
  for (auto& [k, v] : arrays) p.insert_or_assign(k, mx::astype(v, mx::float32));
  mx::eval(flatten(p));
  return p;
}

}  // namespace anneal
