// throughput.matmul({n, iterations}): async -> Promise<{gflops, seconds, flops, iterations}>.
// throughput.conv({batch, size, channels, kernel, iterations}): async, forward + backward of a
//   "same" convolution; same result shape. Both throw ANNEAL_INVALID_ARGUMENT synchronously
//   for a bad option and reject with the engine's error and its code (addon/errors.h).
#include "addon/module.h"
#include "addon/worker.h"
#include "engine/throughput.h"

namespace anneal::addon {
namespace {

Napi::Value ResultToJs(Napi::Env env, const ThroughputResult& r) {
  auto out = Napi::Object::New(env);
  out.Set("gflops", r.gflops);
  out.Set("seconds", r.seconds);
  out.Set("flops", r.flops);
  out.Set("iterations", r.iterations);
  return out;
}

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  auto opts = info.Length() > 0 ? ObjectArg(info, 0, "options") : Napi::Object::New(info.Env());
  int n = IntField(opts, "options", "n", 1024, 1);
  int iterations = IntField(opts, "options", "iterations", 5, 1);
  return PromiseWorker<ThroughputResult>::Run(
      info.Env(), [n, iterations] { return measure_matmul(n, iterations); }, ResultToJs);
}

Napi::Value Conv(const Napi::CallbackInfo& info) {
  auto opts = info.Length() > 0 ? ObjectArg(info, 0, "options") : Napi::Object::New(info.Env());
  ConvShape s;
  s.batch = IntField(opts, "options", "batch", 64, 1);
  s.size = IntField(opts, "options", "size", 32, 1);
  s.channels = IntField(opts, "options", "channels", 64, 1);
  s.kernel = IntField(opts, "options", "kernel", 3, 1);
  int iterations = IntField(opts, "options", "iterations", 3, 1);
  return PromiseWorker<ThroughputResult>::Run(
      info.Env(), [s, iterations] { return measure_conv(s, iterations); }, ResultToJs);
}

}  // namespace

void InitThroughput(Napi::Env env, Napi::Object exports) {
  auto t = Napi::Object::New(env);
  t.Set("matmul", Napi::Function::New(env, Guarded<Matmul>, "matmul"));
  t.Set("conv", Napi::Function::New(env, Guarded<Conv>, "conv"));
  exports.Set("throughput", t);
}

}  // namespace anneal::addon
