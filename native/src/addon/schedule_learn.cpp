#include "addon/schedule_learn.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>

#include "addon/convert.h"
#include "addon/worker.h"
#include "engine/generate.h"
#include "engine/schedule_learn.h"

namespace anneal::addon {
namespace {

std::string OptString(const Napi::Object& o, const char* owner, const char* field, const std::string& fallback) {
  if (!o.Has(field) || o.Get(field).IsUndefined()) return fallback;
  return StringField(o, owner, field);
}

SamplerKind SamplerField(const Napi::Object& o, const char* owner, const char* field, const std::string& fallback) {
  const auto name = OptString(o, owner, field, fallback);
  try {
    return parse_sampler(name);
  } catch (const std::exception& e) {
    throw Napi::TypeError::New(o.Env(), std::string(owner) + "." + field + ": " + e.what());
  }
}

// {sampler, steps} of the reference trajectory.
void ReferenceFields(const Napi::Object& o, const char* owner, SamplerKind& kind, int& steps) {
  if (!o.Has("reference") || o.Get("reference").IsUndefined()) return;
  if (!o.Get("reference").IsObject()) {
    throw Napi::TypeError::New(o.Env(), std::string(owner) + ".reference must be an object {sampler, steps}");
  }
  auto r = o.Get("reference").As<Napi::Object>();
  kind = SamplerField(r, "reference", "sampler", "heun");
  steps = IntField(r, "reference", "steps", steps, 2, 10000);
}

Napi::Array ToJs(Napi::Env env, const std::vector<double>& v) {
  auto a = Napi::Array::New(env, v.size());
  for (uint32_t i = 0; i < v.size(); ++i) a.Set(i, v[i]);
  return a;
}

template <typename T, typename Typed>
Typed TypedFromVector(Napi::Env env, const std::vector<T>& v) {
  auto a = Typed::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

template <typename T, typename Typed>
std::vector<T> VectorFromTyped(const Napi::Object& o, const char* owner, const char* field,
                               napi_typedarray_type kind, const char* type) {
  auto v = o.Get(field);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kind) {
    throw Napi::TypeError::New(o.Env(), std::string(owner) + "." + field + " must be a " + type);
  }
  auto a = v.As<Typed>();
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

Napi::Object ReferenceToJs(Napi::Env env, const LearnReference& r) {
  auto o = Napi::Object::New(env);
  o.Set("grid", ToJs(env, r.grid));
  o.Set("cost", TypedFromVector<double, Napi::Float64Array>(env, r.cost));
  o.Set("trainEnd", TypedFromVector<float, Napi::Float32Array>(env, r.train_end));
  o.Set("heldoutEnd", TypedFromVector<float, Napi::Float32Array>(env, r.heldout_end));
  return o;
}

std::shared_ptr<const LearnReference> ReferenceFromJs(const Napi::Object& o) {
  const char* owner = "spec.knownReference";
  auto r = std::make_shared<LearnReference>();
  r->grid = NumberArrayField(o, owner, "grid");
  r->cost = VectorFromTyped<double, Napi::Float64Array>(o, owner, "cost", napi_float64_array, "Float64Array");
  r->train_end = VectorFromTyped<float, Napi::Float32Array>(o, owner, "trainEnd", napi_float32_array, "Float32Array");
  r->heldout_end = VectorFromTyped<float, Napi::Float32Array>(o, owner, "heldoutEnd", napi_float32_array, "Float32Array");
  return r;
}

Napi::Object CheckpointToJs(Napi::Env env, const LearnCheckpoint& c) {
  auto o = Napi::Object::New(env);
  o.Set("dpSigmas", ToJs(env, c.dp_sigmas));
  o.Set("best", ToJs(env, c.best));
  o.Set("baselineTrain", c.baseline_train);
  o.Set("dpTrain", c.dp_train);
  o.Set("bestError", c.best_error);
  o.Set("sweep", c.sweep);
  o.Set("k", c.k);
  o.Set("move", c.move);
  o.Set("done", c.done);
  o.Set("evaluations", c.evaluations);
  return o;
}

// A checkpoint field that must be present: a finite number >= `min` (an integer when asked).
double RequiredNumber(const Napi::Object& o, const char* owner, const char* field, double min, bool integer = false) {
  const auto v = o.Has(field) ? o.Get(field) : o.Env().Undefined();
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : std::nan("");
  if (!std::isfinite(d) || d < min || (integer && (d != std::floor(d) || d > INT_MAX))) {
    throw Napi::TypeError::New(o.Env(), std::string(owner) + "." + field + " must be a finite " +
                                            (integer ? "integer" : "number") + " >= " +
                                            std::to_string(static_cast<int>(min)));
  }
  return d;
}

std::shared_ptr<const LearnCheckpoint> CheckpointFromJs(const Napi::Object& o) {
  const char* owner = "spec.resume";
  auto c = std::make_shared<LearnCheckpoint>();
  c->dp_sigmas = NumberArrayField(o, owner, "dpSigmas");
  c->best = NumberArrayField(o, owner, "best");
  c->baseline_train = RequiredNumber(o, owner, "baselineTrain", 0);
  c->dp_train = RequiredNumber(o, owner, "dpTrain", 0);
  c->best_error = RequiredNumber(o, owner, "bestError", 0);
  c->sweep = static_cast<int>(RequiredNumber(o, owner, "sweep", 0, true));
  c->k = static_cast<int>(RequiredNumber(o, owner, "k", 1, true));
  c->move = RequiredNumber(o, owner, "move", 0);
  c->done = static_cast<int>(RequiredNumber(o, owner, "done", 0, true));
  c->evaluations = static_cast<int>(RequiredNumber(o, owner, "evaluations", 0, true));
  return c;
}

Napi::Object ResultToJs(Napi::Env env, const LearnScheduleResult& r, const std::vector<double>& initial,
                        const std::vector<std::vector<double>>& compare = {}) {
  auto o = Napi::Object::New(env);
  auto cmp = Napi::Array::New(env, r.compare.size());
  for (uint32_t i = 0; i < r.compare.size(); ++i) {
    auto c = Napi::Object::New(env);
    if (i < compare.size()) c.Set("sigmas", ToJs(env, compare[i]));
    c.Set("train", r.compare[i].first);
    c.Set("heldout", r.compare[i].second);
    cmp.Set(i, c);
  }
  o.Set("compare", cmp);
  o.Set("sigmas", ToJs(env, r.sigmas));
  o.Set("dpSigmas", ToJs(env, r.dp_sigmas));
  o.Set("initialSigmas", ToJs(env, initial));
  o.Set("baselineTrain", r.baseline_train);
  o.Set("baselineHeldout", r.baseline_heldout);
  o.Set("learnedTrain", r.learned_train);
  o.Set("learnedHeldout", r.learned_heldout);
  o.Set("dpTrain", r.dp_train);
  o.Set("evaluations", r.evaluations);
  o.Set("nfe", r.nfe);
  o.Set("cancelled", r.cancelled);
  o.Set("referenceReused", r.reference_reused);
  o.Set("resumed", r.resumed);
  return o;
}

struct Learned {
  LearnScheduleResult result;
  std::vector<double> initial;
  std::vector<std::vector<double>> compare;  // the sigmas scored beside it, in order
};

}  // namespace

Napi::Value LearnModelSchedule(const Napi::CallbackInfo& info, std::shared_ptr<ModelState> s) {
  auto env = info.Env();
  auto o = ObjectArg(info, 0, "spec");
  ModelScheduleSpec spec;
  spec.sampler = SamplerField(o, "spec", "sampler", "");
  spec.nfe = IntField(o, "spec", "nfe", spec.nfe, -1000000, 100000);
  spec.n = IntField(o, "spec", "n", spec.n, 1, 4096);
  spec.seed = static_cast<std::uint64_t>(LongField(o, "spec", "seed", 0));
  spec.heldout_seed = static_cast<std::uint64_t>(LongField(o, "spec", "heldoutSeed", 1));
  spec.class_label = IntField(o, "spec", "classLabel", -1, -1);
  spec.guidance = NumberField(o, "spec", "guidance", 1.0, 0);
  if (o.Has("clipDenoised") && !o.Get("clipDenoised").IsUndefined()) {
    spec.clip_denoised = o.Get("clipDenoised").ToBoolean().Value();
  }
  spec.initial.kind = OptString(o, "spec", "initial", "default");
  spec.initial.rho = NumberField(o, "spec", "rho", 7.0, 0);
  spec.initial.sigma_max = NumberField(o, "spec", "sigmaMax", 0, 0);
  spec.sweeps = IntField(o, "spec", "sweeps", spec.sweeps, 0, 1000);
  ReferenceFields(o, "spec", spec.reference, spec.reference_steps);
  if (o.Has("knownReference") && !o.Get("knownReference").IsUndefined()) {
    if (!o.Get("knownReference").IsObject())
      throw Napi::TypeError::New(env, "spec.knownReference must be an object {cost, trainEnd, heldoutEnd}");
    spec.known_reference = ReferenceFromJs(o.Get("knownReference").As<Napi::Object>());
  }
  if (o.Has("resume") && !o.Get("resume").IsUndefined()) {
    if (!o.Get("resume").IsObject()) throw Napi::TypeError::New(env, "spec.resume must be a checkpoint object");
    spec.resume = CheckpointFromJs(o.Get("resume").As<Napi::Object>());
  }
  // compare: schedule kinds (strings) and explicit lists (number arrays), scored in that order:
  // kinds first, then lists.
  if (o.Has("compare") && !o.Get("compare").IsUndefined()) {
    if (!o.Get("compare").IsArray()) throw Napi::TypeError::New(env, "spec.compare must be an array");
    auto a = o.Get("compare").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      auto v = a.Get(i);
      if (v.IsString()) {
        spec.compare_kinds.push_back(v.As<Napi::String>().Utf8Value());
      } else if (v.IsArray()) {
        auto holder = Napi::Object::New(env);
        holder.Set("sigmas", v);
        spec.compare_sigmas.push_back(NumberArrayField(holder, "spec.compare", "sigmas"));
      } else {
        throw Napi::TypeError::New(env, "spec.compare[" + std::to_string(i) +
                                            "] must be a schedule kind or a sigma list");
      }
    }
  }
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  auto on_progress = info.Length() > 1 ? info[1] : env.Undefined();
  auto promise = ProgressPromiseWorker<Learned, LearnScheduleProgress>::Run(
      env, on_progress,
      [s, spec, cancel](const std::function<void(const LearnScheduleProgress&)>& report) {
        Learned out;
        out.result = learn_model_schedule(s->params, s->unet, s->prec, spec, report, [cancel] { return cancel->load(); });
        // The baseline, as sampling would build it (learn_model_schedule made the same list).
        Denoiser d(s->prec, NetworkFn{});
        const int steps = steps_for_nfe(spec.sampler, spec.nfe);
        out.initial = make_sigmas(d, spec.sampler, steps, spec.initial);
        for (const auto& kind : spec.compare_kinds) {
          ScheduleSpec c = spec.initial;
          c.kind = kind;
          out.compare.push_back(make_sigmas(d, spec.sampler, steps, c));
        }
        for (const auto& sigmas : spec.compare_sigmas) out.compare.push_back(schedule_explicit(sigmas));
        return out;
      },
      [](Napi::Env e, const Learned& r) { return ResultToJs(e, r.result, r.initial, r.compare); },
      [](Napi::Env e, const LearnScheduleProgress& p) {
        auto obj = Napi::Object::New(e);
        obj.Set("phase", p.phase);
        obj.Set("done", p.done);
        obj.Set("total", p.total);
        obj.Set("error", p.error);
        if (p.reference) obj.Set("reference", ReferenceToJs(e, *p.reference));
        if (p.checkpoint) obj.Set("checkpoint", CheckpointToJs(e, *p.checkpoint));
        return obj;
      });
  auto handle = Napi::Object::New(env);
  handle.Set("result", promise);
  handle.Set("cancel", Napi::Function::New(env, [cancel](const Napi::CallbackInfo& i) {
               cancel->store(true);
               return i.Env().Undefined();
             }));
  return handle;
}

Napi::Value LearnGaussianSchedule(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = ObjectArg(info, 0, "options");
  const int d = IntField(o, "options", "dim", 2, 1, 4096);
  const int n = IntField(o, "options", "n", 256, 1);
  auto mean = Float32ArrayToMx(o.Get("mean"), "mean", {d});
  auto vecs = Float32ArrayToMx(o.Get("eigvecs"), "eigvecs", {d, d});
  auto vals = Float32ArrayToMx(o.Get("eigvals"), "eigvals", {d});
  LearnScheduleSpec spec;
  spec.sampler = SamplerField(o, "options", "sampler", "");
  spec.initial = NumberArrayField(o, "options", "sigmas");
  spec.sigma_min = NumberField(o, "options", "sigmaMin", 0.002, 0);
  spec.sweeps = IntField(o, "options", "sweeps", spec.sweeps, 0, 1000);
  ReferenceFields(o, "options", spec.reference, spec.reference_steps);
  auto unit = [&](const char* field, long fallback) {
    auto key = mx::random::key(static_cast<std::uint64_t>(LongField(o, "options", field, fallback)));
    return mx::random::normal({n, d}, mx::float32, key);
  };
  auto r = learn_schedule(gaussian_denoiser(mean, vecs, vals), unit("seed", 0), unit("heldoutSeed", 1), spec);
  return ResultToJs(env, r, schedule_explicit(spec.initial));
}

}  // namespace anneal::addon
