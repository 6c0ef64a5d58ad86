// distributed.available(backend): sync -> boolean: whether this MLX build has the backend
//   ("ring", "jaccl", "mpi", "nccl" or "any").
// distributed.init({backend}): sync -> {rank, size, backend}: joins the process's data-parallel
//   group (MLX's distributed init; for ring, MLX_RANK and MLX_HOSTFILE in the environment say
//   who this process is and where the others listen). Blocks until every rank has connected.
//   ANNEAL_INVALID_ARGUMENT for an unknown backend or a second backend; ANNEAL_INTERNAL when the
//   group cannot be formed (a bad hostfile, a port in use).
// distributed.group(): sync -> {rank, size, backend} | null.
// A Trainer built with options.dataParallel trains on this group (engine/trainer.h).
#include "addon/module.h"
#include "addon/worker.h"
#include "engine/distributed.h"

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

}  // namespace

void InitDistributed(Napi::Env env, Napi::Object exports) {
  auto d = Napi::Object::New(env);
  d.Set("available", Napi::Function::New(env, Guarded<Available>, "available"));
  d.Set("init", Napi::Function::New(env, Guarded<Init>, "init"));
  d.Set("group", Napi::Function::New(env, Guarded<GroupInfo>, "group"));
  exports.Set("distributed", d);
}

}  // namespace anneal::addon
