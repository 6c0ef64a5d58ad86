// Hardware probe: what this machine is, so the engine can pick defaults (dtype, batch
// size, attention kind) and the architecture search can cost candidates.
#pragma once

#include <cstddef>
#include <map>
#include <string>

namespace anneal {

struct ChipInfo {
  std::string vendor;  // "apple", "intel", "amd", "nvidia", ...
  std::string name;    // "Apple M2 Pro", "AMD EPYC 7B13", "NVIDIA H100 80GB HBM3"
  std::string family;  // "M1".."M4" on Apple Silicon, empty elsewhere
  std::string tier;    // "base", "Pro", "Max", "Ultra" on Apple Silicon, empty elsewhere
  std::string gpu_architecture;  // MLX's architecture string, e.g. "applegpu_g14s"
};

struct MemoryInfo {
  std::size_t total_bytes = 0;  // unified memory on Apple Silicon, physical RAM elsewhere
  // Metal's recommendedMaxWorkingSetSize on Apple Silicon; device memory under CUDA;
  // physical RAM on the CPU backend.
  std::size_t working_set_bytes = 0;
  bool unified = false;
};

struct CoreInfo {
  int logical = 0;
  int performance = 0;  // P-cores on Apple Silicon; physical cores elsewhere when known
  int efficiency = 0;   // E-cores on Apple Silicon
};

struct HardwareProfile {
  std::string backend;  // "metal", "cuda" or "cpu"
  std::string os;       // "darwin", "linux"
  ChipInfo chip;
  MemoryInfo memory;
  CoreInfo cores;
  std::string mlx_version;
  // The BLAS serving MLX's CPU kernels: "accelerate" on macOS, "openblas" when the addon
  // linked it ahead of MLX's wheel, "reference" for the wheel's bundled netlib BLAS.
  std::string blas;
};

// Which BLAS this process has loaded (see HardwareProfile::blas).
std::string detect_blas();

using DeviceInfo = std::map<std::string, std::string>;

// Probes this machine. Synchronous and cheap (no kernels run).
HardwareProfile probe_hardware();

// Parses `sysctl` output ("key: value" lines, as printed by `sysctl KEY...`) into a map.
std::map<std::string, std::string> parse_sysctl(const std::string& text);

// Builds an Apple Silicon profile from sysctl values and MLX's Metal device info
// (values already stringified). Pure, so it is tested on fixtures off the Mac.
HardwareProfile apple_profile(const std::map<std::string, std::string>& sysctl,
                              const DeviceInfo& device_info);

// Splits an Apple chip name ("Apple M3 Max") into family ("M3") and tier ("Max").
void parse_apple_chip_name(const std::string& name, std::string& family, std::string& tier);

}  // namespace anneal
