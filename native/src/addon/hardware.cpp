// hardware.probe(): sync, returns the HardwareProfile as a plain object; throws on MLX errors
//   (code per addon/errors.h).
// hardware.parseApple(sysctlText, deviceInfo): sync, pure; builds an Apple Silicon profile
// from `sysctl` output and MLX's Metal device info (tested on fixtures off the Mac).
// TypeError (code ANNEAL_INVALID_ARGUMENT) on a bad argument.
#include "addon/module.h"
#include "addon/worker.h"
#include "engine/hardware.h"

namespace anneal::addon {

Napi::Object HardwareToJs(Napi::Env env, const HardwareProfile& p) {
  auto chip = Napi::Object::New(env);
  chip.Set("vendor", p.chip.vendor);
  chip.Set("name", p.chip.name);
  chip.Set("family", p.chip.family.empty() ? env.Null() : Napi::String::New(env, p.chip.family));
  chip.Set("tier", p.chip.tier.empty() ? env.Null() : Napi::String::New(env, p.chip.tier));
  chip.Set("gpuArchitecture", p.chip.gpu_architecture.empty()
                                  ? env.Null()
                                  : Napi::String::New(env, p.chip.gpu_architecture));
  auto memory = Napi::Object::New(env);
  memory.Set("totalBytes", Bytes(env, p.memory.total_bytes));
  memory.Set("workingSetBytes", Bytes(env, p.memory.working_set_bytes));
  memory.Set("unified", p.memory.unified);
  auto cores = Napi::Object::New(env);
  cores.Set("logical", p.cores.logical);
  cores.Set("performance", p.cores.performance);
  cores.Set("efficiency", p.cores.efficiency);
  auto out = Napi::Object::New(env);
  out.Set("backend", p.backend);
  out.Set("os", p.os);
  out.Set("chip", chip);
  out.Set("memory", memory);
  out.Set("cores", cores);
  out.Set("mlxVersion", p.mlx_version);
  out.Set("blas", p.blas);
  return out;
}

namespace {

Napi::Value Probe(const Napi::CallbackInfo& info) {
  return HardwareToJs(info.Env(), probe_hardware());
}

Napi::Value ParseApple(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto sysctl_text = StringArg(info, 0, "sysctlText");
  auto device = ObjectArg(info, 1, "deviceInfo");
  DeviceInfo device_info;
  auto keys = device.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    auto key = keys.Get(i).ToString().Utf8Value();
    auto value = device.Get(key);
    if (!value.IsString() && !value.IsNumber()) {
      throw Napi::TypeError::New(env, "deviceInfo." + key + " must be a string or a number");
    }
    // Byte counts exceed 2^31 but not 2^53; print integers without a decimal point.
    device_info[key] = value.IsNumber()
                           ? std::to_string(static_cast<long long>(value.As<Napi::Number>().DoubleValue()))
                           : value.As<Napi::String>().Utf8Value();
  }
  return HardwareToJs(env, apple_profile(parse_sysctl(sysctl_text), device_info));
}

}  // namespace

void InitHardware(Napi::Env env, Napi::Object exports) {
  auto hw = Napi::Object::New(env);
  hw.Set("probe", Napi::Function::New(env, Guarded<Probe>, "probe"));
  hw.Set("parseApple", Napi::Function::New(env, Guarded<ParseApple>, "parseApple"));
  exports.Set("hardware", hw);
}

}  // namespace anneal::addon
