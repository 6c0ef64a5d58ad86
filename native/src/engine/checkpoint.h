// Model weights as safetensors, names = diffusers' state_dict keys, loadable by MLX Python's
// mx.load with the same names. Writes land under a temporary name and are renamed into place.
#pragma once

#include <map>
#include <string>

#include "engine/params.h"

namespace anneal {

void save_params(const std::string& path, const Params& params,
                 const std::map<std::string, std::string>& metadata = {});
Params load_params(const std::string& path);

// A sibling path to write before renaming into place. It keeps the .safetensors suffix:
// mx::save_safetensors appends one to any path that lacks it.
std::string temporary_path(const std::string& path);

}  // namespace anneal
