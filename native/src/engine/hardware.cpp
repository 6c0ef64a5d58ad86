#include "engine/hardware.h"

#include <cctype>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <variant>

#include <mlx/backend/gpu/device_info.h>
#include <mlx/mlx.h>
#include <unistd.h>

#ifdef __APPLE__
#include <sys/sysctl.h>
#include <sys/types.h>
#endif

namespace mx = mlx::core;

namespace anneal {
namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::size_t to_size(const std::string& s) {
  try {
    return static_cast<std::size_t>(std::stoull(s));
  } catch (...) {
    return 0;
  }
}

int to_int(const std::string& s) { return static_cast<int>(to_size(s)); }

const std::string& get_or_empty(const std::map<std::string, std::string>& m,
                                const std::string& key) {
  static const std::string empty;
  auto it = m.find(key);
  return it == m.end() ? empty : it->second;
}

DeviceInfo stringify(
    const std::unordered_map<std::string, std::variant<std::string, std::size_t>>& info) {
  DeviceInfo out;
  for (const auto& [k, v] : info) {
    if (std::holds_alternative<std::string>(v)) {
      out[k] = std::get<std::string>(v);
    } else {
      out[k] = std::to_string(std::get<std::size_t>(v));
    }
  }
  return out;
}

#ifdef __APPLE__
std::string sysctl_string(const char* key) {
  std::size_t len = 0;
  if (sysctlbyname(key, nullptr, &len, nullptr, 0) != 0 || len == 0) return "";
  std::string out(len, '\0');
  if (sysctlbyname(key, out.data(), &len, nullptr, 0) != 0) return "";
  out.resize(len > 0 && out[len - 1] == '\0' ? len - 1 : len);
  return out;
}

std::string sysctl_number(const char* key) {
  std::int64_t value = 0;
  std::size_t len = sizeof(value);
  if (sysctlbyname(key, &value, &len, nullptr, 0) != 0) return "";
  if (len == sizeof(std::int32_t)) {
    std::int32_t v32 = 0;
    std::memcpy(&v32, &value, sizeof(v32));
    return std::to_string(v32);
  }
  return std::to_string(value);
}
#endif

std::string linux_cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto key = trim(line.substr(0, colon));
    if (key == "model name" || key == "Model" || key == "Hardware") return trim(line.substr(colon + 1));
  }
  return "";
}

int linux_physical_cores() {
  // Count distinct (physical id, core id) pairs; containers often expose only logical CPUs.
  std::ifstream f("/proc/cpuinfo");
  std::string line, physical = "0";
  std::map<std::string, int> seen;
  while (std::getline(f, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto key = trim(line.substr(0, colon));
    auto value = trim(line.substr(colon + 1));
    if (key == "physical id") physical = value;
    if (key == "core id") seen[physical + ":" + value] = 1;
  }
  return static_cast<int>(seen.size());
}

std::string vendor_of(const std::string& name) {
  std::string lower = name;
  for (auto& c : lower) c = static_cast<char>(std::tolower(c));
  for (const char* v : {"apple", "intel", "amd", "nvidia", "ampere", "arm"}) {
    if (lower.find(v) != std::string::npos) return v;
  }
  return "unknown";
}

}  // namespace

std::string detect_blas() {
#ifdef __APPLE__
  return "accelerate";
#else
  // The whole map, not its first match: it is sorted by address, which address-space
  // randomization shuffles, so "first" changed from run to run when both were mapped.
  // OpenBLAS anywhere wins: Debian's alternatives put its libblas.so.3 under openblas-*/,
  // and with it present the BLAS symbols resolve to it.
  std::ifstream maps("/proc/self/maps");
  std::string line;
  bool reference = false;
  while (std::getline(maps, line)) {
    if (line.find("openblas") != std::string::npos) return "openblas";
    if (line.find("libblas") != std::string::npos) reference = true;
  }
  return reference ? "reference" : "unknown";
#endif
}

std::map<std::string, std::string> parse_sysctl(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    // `sysctl KEY` prints "KEY: VALUE"; `sysctl -a` on older systems may print "KEY = VALUE".
    auto sep = line.find(':');
    auto eq = line.find(" = ");
    if (sep == std::string::npos || (eq != std::string::npos && eq < sep)) sep = eq;
    if (sep == std::string::npos) continue;
    auto key = trim(line.substr(0, sep));
    auto value = trim(line.substr(sep + (line[sep] == ':' ? 1 : 3)));
    if (!key.empty()) out[key] = value;
  }
  return out;
}

void parse_apple_chip_name(const std::string& name, std::string& family, std::string& tier) {
  static const std::regex re(R"(Apple\s+(M\d+)(?:\s+(Pro|Max|Ultra))?)");
  std::smatch m;
  if (std::regex_search(name, m, re)) {
    family = m[1].str();
    tier = m[2].matched ? m[2].str() : "base";
  } else {
    family.clear();
    tier.clear();
  }
}

HardwareProfile apple_profile(const std::map<std::string, std::string>& sysctl,
                              const DeviceInfo& device_info) {
  HardwareProfile p;
  p.backend = "metal";
  p.os = "darwin";
  p.chip.vendor = "apple";
  // MLX's device_name is the GPU's name ("Apple M2 Max"); the CPU brand string says the same
  // on Apple Silicon. Prefer sysctl, fall back to the device.
  p.chip.name = get_or_empty(sysctl, "machdep.cpu.brand_string");
  if (p.chip.name.empty()) p.chip.name = get_or_empty(device_info, "device_name");
  parse_apple_chip_name(p.chip.name, p.chip.family, p.chip.tier);
  p.chip.gpu_architecture = get_or_empty(device_info, "architecture");

  p.memory.unified = true;
  p.memory.total_bytes = to_size(get_or_empty(sysctl, "hw.memsize"));
  if (p.memory.total_bytes == 0) p.memory.total_bytes = to_size(get_or_empty(device_info, "memory_size"));
  p.memory.working_set_bytes =
      to_size(get_or_empty(device_info, "max_recommended_working_set_size"));
  if (p.memory.working_set_bytes == 0) p.memory.working_set_bytes = p.memory.total_bytes;

  p.cores.logical = to_int(get_or_empty(sysctl, "hw.logicalcpu"));
  if (p.cores.logical == 0) p.cores.logical = to_int(get_or_empty(sysctl, "hw.ncpu"));
  // perflevel0 is the performance cluster and perflevel1 the efficiency cluster (macOS 12+).
  p.cores.performance = to_int(get_or_empty(sysctl, "hw.perflevel0.physicalcpu"));
  p.cores.efficiency = to_int(get_or_empty(sysctl, "hw.perflevel1.physicalcpu"));
  if (p.cores.performance == 0) p.cores.performance = to_int(get_or_empty(sysctl, "hw.physicalcpu"));
  p.mlx_version = mx::version();
  p.blas = "accelerate";
  return p;
}

HardwareProfile probe_hardware() {
#ifdef __APPLE__
  std::map<std::string, std::string> sysctl;
  for (const char* key : {"machdep.cpu.brand_string"}) sysctl[key] = sysctl_string(key);
  for (const char* key : {"hw.memsize", "hw.ncpu", "hw.logicalcpu", "hw.physicalcpu",
                          "hw.perflevel0.physicalcpu", "hw.perflevel1.physicalcpu"}) {
    sysctl[key] = sysctl_number(key);
  }
  DeviceInfo info;
  if (mx::gpu::is_available()) info = stringify(mx::gpu::device_info());
  auto p = apple_profile(sysctl, info);
  if (!mx::gpu::is_available()) p.backend = "cpu";
  return p;
#else
  HardwareProfile p;
  p.os = "linux";
  p.mlx_version = mx::version();
  p.blas = detect_blas();
  p.chip.name = linux_cpu_model();
  p.chip.vendor = vendor_of(p.chip.name);
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGE_SIZE);
  p.memory.total_bytes = static_cast<std::size_t>(pages) * static_cast<std::size_t>(page_size);
  p.memory.working_set_bytes = p.memory.total_bytes;
  p.cores.logical = static_cast<int>(std::thread::hardware_concurrency());
  p.cores.performance = linux_physical_cores();
  if (p.cores.performance == 0) p.cores.performance = p.cores.logical;
  if (mx::gpu::is_available()) {
    auto info = stringify(mx::gpu::device_info());
    p.backend = "cuda";
    p.chip.gpu_architecture = get_or_empty(info, "architecture");
    auto gpu = get_or_empty(info, "device_name");
    if (!gpu.empty()) {
      p.chip.name = gpu;
      p.chip.vendor = "nvidia";
    }
    auto total = to_size(get_or_empty(info, "total_memory"));
    if (total == 0) total = to_size(get_or_empty(info, "memory_size"));
    if (total > 0) p.memory.working_set_bytes = total;
  } else {
    p.backend = "cpu";
  }
  return p;
#endif
}

}  // namespace anneal
