// Models are parameter trees: ordered name -> array maps whose names are the safetensors
// keys (diffusers' state_dict names), plus pure forward functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <mlx/mlx.h>

namespace anneal {

namespace mx = mlx::core;

using Params = std::map<std::string, mx::array>;

// Flattens in name order, so a Params tree crosses mx::compile / mx::value_and_grad as a
// vector and is rebuilt with the same names.
inline std::vector<mx::array> flatten(const Params& p) {
  std::vector<mx::array> out;
  out.reserve(p.size());
  for (const auto& [_, a] : p) out.push_back(a);
  return out;
}

inline Params unflatten(const Params& like, const std::vector<mx::array>& arrays,
                        std::size_t offset = 0) {
  Params out;
  std::size_t i = offset;
  for (const auto& [name, _] : like) out.insert_or_assign(name, arrays.at(i++));
  return out;
}

// argnums selecting every array of a flattened tree (mx::grad defaults to only the first).
inline std::vector<int> all_argnums(std::size_t n) {
  std::vector<int> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<int>(i);
  return out;
}

inline std::size_t parameter_count(const Params& p) {
  std::size_t n = 0;
  for (const auto& [_, a] : p) n += a.size();
  return n;
}

inline const mx::array& at(const Params& p, const std::string& name) {
  auto it = p.find(name);
  if (it == p.end()) throw std::runtime_error("missing parameter: " + name);
  return it->second;
}

}  // namespace anneal
