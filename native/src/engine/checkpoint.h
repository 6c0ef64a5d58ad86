// Model weights as safetensors, names = diffusers' state_dict keys, loadable by MLX Python's
// mx.load with the same names. Writes land under a temporary name and are renamed into place.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <utility>

#include "engine/params.h"

namespace anneal {

void save_params(const std::string& path, const Params& params,
                 const std::map<std::string, std::string>& metadata = {});
Params load_params(const std::string& path);

// A sibling path to write before renaming into place. It keeps the .safetensors suffix:
// mx::save_safetensors appends one to any path that lacks it.
std::string temporary_path(const std::string& path);

using SafetensorsFile = std::pair<std::unordered_map<std::string, mx::array>,
                                  std::unordered_map<std::string, std::string>>;

// mx::load_safetensors with errors that say which file and why: FileNotFoundError when
// `path` does not exist, FileError when it is not a readable safetensors file. `what`
// names the file's role in messages ("checkpoint", "dataset shard").
SafetensorsFile read_safetensors(const std::string& path, const std::string& what);

// Writes under a temporary name and renames into place; FileError if either fails.
void write_safetensors(const std::string& path,
                       const std::unordered_map<std::string, mx::array>& arrays,
                       const std::unordered_map<std::string, std::string>& metadata);

}  // namespace anneal
