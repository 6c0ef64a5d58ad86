#include "addon/module.h"

#include <mlx/version.h>

namespace anneal::addon {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mlxVersion", Napi::String::New(env, mlx::core::version()));
  InitHardware(env, exports);
  InitMemory(env, exports);
  InitThroughput(env, exports);
  InitOps(env, exports);
  InitAttention(env, exports);
  InitModel(env, exports);
  InitTrainer(env, exports);
  InitSampling(env, exports);
  InitExtractor(env, exports);
  InitDenoiser(env, exports);
  InitDistill(env, exports);
  InitDistributed(env, exports);
  return exports;
}

NODE_API_MODULE(anneal, Init)

}  // namespace anneal::addon
