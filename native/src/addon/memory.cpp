// memory.stats(): sync -> {activeBytes, peakBytes, cacheBytes, limitBytes}.
// memory.resetPeak(): sync.
// memory.defaultBudget(fraction): sync -> {bytes, source}; RangeError on a bad fraction.
// memory.estimate(spec): sync -> estimate breakdown in bytes.
// memory.assertFits(spec, budget): sync; throws Error (code ANNEAL_MEMORY_BUDGET) if the
//   estimate exceeds the budget, naming both.
// memory.applyLimits(budget): sync; sets MLX's memory, cache and (Metal) wired limits.
// memory.checkPeak(budget, step): sync; throws (code ANNEAL_MEMORY_BUDGET) when MLX's peak
//   memory exceeds the budget.
// A bad argument throws TypeError/RangeError with code ANNEAL_INVALID_ARGUMENT (addon/errors.h).
#include "addon/module.h"
#include "addon/worker.h"
#include "engine/memory.h"

namespace anneal::addon {
namespace {

JobMemorySpec SpecFromJs(const Napi::Object& o) {
  JobMemorySpec s;
  s.parameter_count = static_cast<std::size_t>(LongField(o, "spec", "parameterCount", 0));
  s.bytes_per_parameter = static_cast<std::size_t>(LongField(o, "spec", "bytesPerParameter", 4, 1));
  s.optimizer_states_per_parameter = IntField(o, "spec", "optimizerStatesPerParameter", 2, 0);
  s.activation_bytes_per_example =
      static_cast<std::size_t>(LongField(o, "spec", "activationBytesPerExample", 0));
  s.batch_size = static_cast<std::size_t>(LongField(o, "spec", "batchSize", 1, 1));
  s.accumulation_steps = IntField(o, "spec", "accumulationSteps", 1, 1);
  s.workspace_fraction = NumberField(o, "spec", "workspaceFraction", 0.1, 0);
  if (o.Has("gradients")) s.gradients = o.Get("gradients").ToBoolean();
  if (o.Has("ema")) s.ema = o.Get("ema").ToBoolean();
  if (o.Has("snapshot")) s.snapshot = o.Get("snapshot").ToBoolean();
  return s;
}

MemoryBudget BudgetFromJs(const Napi::Object& o) {
  MemoryBudget b;
  b.bytes = static_cast<std::size_t>(LongField(o, "budget", "bytes", 0, 1));
  if (o.Has("source") && o.Get("source").IsString()) {
    b.source = o.Get("source").As<Napi::String>().Utf8Value();
  } else {
    b.source = "configured";
  }
  return b;
}

Napi::Object BudgetToJs(Napi::Env env, const MemoryBudget& b) {
  auto out = Napi::Object::New(env);
  out.Set("bytes", Bytes(env, b.bytes));
  out.Set("source", b.source);
  return out;
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto s = memory_stats();
  auto out = Napi::Object::New(env);
  out.Set("activeBytes", Bytes(env, s.active_bytes));
  out.Set("peakBytes", Bytes(env, s.peak_bytes));
  out.Set("cacheBytes", Bytes(env, s.cache_bytes));
  out.Set("limitBytes", Bytes(env, s.limit_bytes));
  return out;
}

Napi::Value ResetPeak(const Napi::CallbackInfo& info) {
  reset_peak_memory();
  return info.Env().Undefined();
}

Napi::Value DefaultBudget(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  double fraction = info.Length() > 0 && !info[0].IsUndefined() ? NumberArg(info, 0, "fraction") : 0.75;
  if (!(fraction > 0 && fraction <= 1)) {
    throw Napi::RangeError::New(env, "fraction must be in (0, 1]");
  }
  return BudgetToJs(env, default_budget(probe_hardware(), fraction));
}

Napi::Value Estimate(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto e = estimate_job_memory(SpecFromJs(ObjectArg(info, 0, "spec")));
  auto out = Napi::Object::New(env);
  out.Set("parameters", Bytes(env, e.parameters));
  out.Set("gradients", Bytes(env, e.gradients));
  out.Set("optimizerState", Bytes(env, e.optimizer_state));
  out.Set("ema", Bytes(env, e.ema));
  out.Set("update", Bytes(env, e.update));
  out.Set("snapshot", Bytes(env, e.snapshot));
  out.Set("activations", Bytes(env, e.activations));
  out.Set("workspace", Bytes(env, e.workspace));
  out.Set("total", Bytes(env, e.total));
  return out;
}

Napi::Value AssertFits(const Napi::CallbackInfo& info) {
  auto spec = SpecFromJs(ObjectArg(info, 0, "spec"));
  auto budget = BudgetFromJs(ObjectArg(info, 1, "budget"));
  assert_fits(estimate_job_memory(spec), spec, budget);
  return info.Env().Undefined();
}

Napi::Value ApplyLimits(const Napi::CallbackInfo& info) {
  apply_memory_limits(BudgetFromJs(ObjectArg(info, 0, "budget")), probe_hardware());
  return info.Env().Undefined();
}

Napi::Value CheckPeak(const Napi::CallbackInfo& info) {
  auto budget = BudgetFromJs(ObjectArg(info, 0, "budget"));
  long step = info.Length() > 1 ? static_cast<long>(NumberArg(info, 1, "step")) : 0;
  check_peak_memory(budget, step);
  return info.Env().Undefined();
}

}  // namespace

void InitMemory(Napi::Env env, Napi::Object exports) {
  auto m = Napi::Object::New(env);
  m.Set("stats", Napi::Function::New(env, Guarded<Stats>, "stats"));
  m.Set("resetPeak", Napi::Function::New(env, Guarded<ResetPeak>, "resetPeak"));
  m.Set("defaultBudget", Napi::Function::New(env, Guarded<DefaultBudget>, "defaultBudget"));
  m.Set("estimate", Napi::Function::New(env, Guarded<Estimate>, "estimate"));
  m.Set("assertFits", Napi::Function::New(env, Guarded<AssertFits>, "assertFits"));
  m.Set("applyLimits", Napi::Function::New(env, Guarded<ApplyLimits>, "applyLimits"));
  m.Set("checkPeak", Napi::Function::New(env, Guarded<CheckPeak>, "checkPeak"));
  exports.Set("memory", m);
}

}  // namespace anneal::addon
