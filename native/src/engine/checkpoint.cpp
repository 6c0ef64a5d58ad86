#include "engine/checkpoint.h"

#include <filesystem>
#include <stdexcept>

namespace anneal {

void save_params(const std::string& path, const Params& params, const std::map<std::string, std::string>& metadata) {
  std::unordered_map<std::string, mx::array> arrays(params.begin(), params.end());
  std::unordered_map<std::string, std::string> meta(metadata.begin(), metadata.end());
  meta.emplace("format", "anneal-model");
  const std::string tmp = path + ".tmp";
  mx::save_safetensors(tmp, arrays, meta);
  std::filesystem::rename(tmp, path);
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
