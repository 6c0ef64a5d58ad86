// distributed.available(backend): sync -> boolean: whether this MLX build has the backend
//   ("ring", "jaccl", "mpi", "nccl" or "any").
// distributed.init({backend}): sync -> {rank, size, backend}: joins the process's data-parallel
//   group (MLX's distributed init; for ring, MLX_RANK and MLX_HOSTFILE in the environment say
//   who this process is and where the others listen). Blocks until every rank has connected.
//   ANNEAL_INVALID_ARGUMENT for an unknown backend or a second backend; ANNEAL_INTERNAL when the
//   group cannot be formed (a bad hostfile, a port in use).
// distributed.group(): sync -> {rank, size, backend} | null.
// distributed.allSum(values: Float32Array): sync -> Float32Array: the element-wise sum over
//   the group's ranks of each rank's `values` (the same length on every rank); blocks until
//   every rank has called it. For agreement between steps (a stop every rank must take at the
//   same step) and for timing the group's links, not for gradients (the step sums those).
//   ANNEAL_INVALID_STATE before init.
// A Trainer built with options.dataParallel trains on this group (engine/trainer.h).
#include "addon/convert.h"
#include "addon/errors.h"
#include "addon/module.h"
#include "addon/worker.h"
#include "engine/distributed.h"

#include <mlx/distributed/ops.h>
#include <mlx/transforms.h>

namespace anneal::addon {

namespace {

Napi::Object InfoToJs(Napi::Env env, const DistributedGroupInfo& i) {
  auto out = Napi::Object::New(env);
  out.Set("rank", i.rank);
  out.Set("size", i.size);
  out.Set("backend", i.backend);
  return out;
}

Napi::Value Available(const Napi::CallbackInfo& info) {
  const std::string backend = StringArg(info, 0, "backend");
  return Napi::Boolean::New(info.Env(), mlx::core::distributed::is_available(backend));
}

Napi::Value Init(const Napi::CallbackInfo& info) {
  auto o = ObjectArg(info, 0, "options");
  const std::string backend = o.Has("backend") ? o.Get("backend").ToString().Utf8Value() : "ring";
  return InfoToJs(info.Env(), init_distributed(backend));
}

Napi::Value GroupInfo(const Napi::CallbackInfo& info) {
  if (!distributed_group()) return info.Env().Null();
  return InfoToJs(info.Env(), distributed_info());
}

Napi::Value AllSum(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto group = distributed_group();
  if (!group) throw StateError(env, "distributed.allSum: this process joined no group (distributed.init)");
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(env, "values must be a Float32Array");
  }
  const int n = static_cast<int>(info[0].As<Napi::Float32Array>().ElementLength());
  auto x = Float32ArrayToMx(info[0], "values", {n});
  auto sum = mlx::core::distributed::all_sum(x, *group);
  mlx::core::eval(sum);
  return MxToFloat32Array(env, sum);
}

}  // namespace

void InitDistributed(Napi::Env env, Napi::Object exports) {
  auto d = Napi::Object::New(env);
  d.Set("available", Napi::Function::New(env, Guarded<Available>, "available"));
  d.Set("init", Napi::Function::New(env, Guarded<Init>, "init"));
  d.Set("group", Napi::Function::New(env, Guarded<GroupInfo>, "group"));
  d.Set("allSum", Napi::Function::New(env, Guarded<AllSum>, "allSum"));
  exports.Set("distributed", d);
}

}  // namespace anneal::addon
