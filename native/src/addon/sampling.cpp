// sampling.sigmas({kind, steps, schedule, sigmaMin?, sigmaMax?, rho?, sigmas?}, config?): sync ->
//   number[] ending in 0. With a model config, VP tables bound the range.
// sampling.gaussian({mean, eigvecs, eigvals, dim, sampler, steps, n, seed, eta?, sigmaMax,
//   sigmaMin, config?, schedule?}): sync -> {samples: Float32Array, exact: Float32Array, nfe,
//   sigmaMax}. Drives a sampler with the closed-form denoiser of Gaussian data; `exact` is the
//   probability-flow ODE's exact endpoint for the same initial noise (meaningful for
//   deterministic samplers). With `config` ({parameterization, schedule} as in config.json),
//   the closed form enters as that VP parameterization's network output through the Denoiser
//   wrapper, on the schedule `make_sigmas` gives that model (`schedule`, default "default";
//   `startSigma`, as GenerateSpec's sigma_max, starts it lower than the table's top). The
//   consistency sampler treats D as its f, with sigma_min the schedule's floor.
//   sampler "adaptive" (rtol?, atol?, hInit?) integrates from the schedule's top to sigmaMin
//   (the table's floor with a config) and also returns nfePerImage (Int32Array), calls and
//   rowsEvaluated as the denoiser counted them, and rejected (step attempts rejected,
//   summed). eigvalScale (Float32Array [n], not with config) makes row i's data
//   N(mean, U diag(eigvals * eigvalScale[i]) U^T).
// Both throw ANNEAL_INVALID_ARGUMENT (TypeError/RangeError for a bad field, Error for a bad
// range such as sigmaMin >= sigmaMax); see addon/errors.h.
#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "addon/convert.h"
#include "addon/module.h"
#include "addon/schedule_learn.h"
#include "addon/worker.h"
#include "engine/generate.h"

namespace anneal::addon {
namespace {

Napi::Value Sigmas(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = ObjectArg(info, 0, "options");
  const int steps = IntField(o, "options", "steps", 10, 1);
  const std::string kind = o.Has("schedule") ? o.Get("schedule").ToString().Utf8Value() : "karras";
  std::vector<double> s;
  {
    if (kind == "uniform") {
      VPSchedule vp;
      if (info.Length() > 1 && info[1].IsObject()) vp = PreconditioningFromJs(info[1].As<Napi::Object>()).schedule;
      s = schedule_uniform_t(DiscreteSigmas(vp), steps);
    } else if (kind == "karras") {
      s = schedule_karras(steps, NumberField(o, "options", "sigmaMin", 0.002), NumberField(o, "options", "sigmaMax", 80),
                          NumberField(o, "options", "rho", 7));
    } else if (kind == "exponential") {
      s = schedule_exponential(steps, NumberField(o, "options", "sigmaMin", 0.002), NumberField(o, "options", "sigmaMax", 80));
    } else if (kind == "explicit") {
      auto v = NumberArrayField(o, "options", "sigmas");
      s = schedule_explicit(v);
    } else {
      throw std::invalid_argument("unknown schedule \"" + kind + "\"");
    }
  }
  auto out = Napi::Array::New(env, s.size());
  for (uint32_t i = 0; i < s.size(); ++i) out.Set(i, s[i]);
  return out;
}

Napi::Value Gaussian(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = ObjectArg(info, 0, "options");
  const int d = IntField(o, "options", "dim", 2, 1, 4096);
  const int n = IntField(o, "options", "n", 1000, 1);
  const int steps = IntField(o, "options", "steps", 10, 1);
  const double smax = NumberField(o, "options", "sigmaMax", 80, 0);
  const double smin = NumberField(o, "options", "sigmaMin", 0.002, 0);
  auto mean = Float32ArrayToMx(o.Get("mean"), "mean", {d});
  auto vecs = Float32ArrayToMx(o.Get("eigvecs"), "eigvecs", {d, d});
  auto vals = Float32ArrayToMx(o.Get("eigvals"), "eigvals", {d});
  // Per-row data: row i's eigenvalues are eigvals * eigvalScale[i] (conditioning by row).
  const bool scaled = o.Has("eigvalScale") && !o.Get("eigvalScale").IsUndefined();
  if (scaled) vals = mx::multiply(mx::reshape(Float32ArrayToMx(o.Get("eigvalScale"), "eigvalScale", {n}), {n, 1}), vals);
  SamplerKind kind;
  try {
    kind = parse_sampler(o.Get("sampler").ToString().Utf8Value());
  } catch (const std::exception& e) {
    throw Napi::TypeError::New(env, std::string("options.sampler: ") + e.what());
  }
  const auto seed = static_cast<std::uint64_t>(LongField(o, "options", "seed", 0));
  auto [k_init, k_sampler] = mx::random::split(mx::random::key(seed));
  // With a model config, the closed form goes in as that parameterization's network output,
  // through the Denoiser wrapper and its sigma -> timestep map, on the model's own sigma
  // schedule (the VP table's range); without one, the sampler gets D directly.
  std::optional<Denoiser> wrapped;
  std::vector<double> sigmas;
  DenoiseFn denoise;
  if (o.Has("config") && o.Get("config").IsObject()) {
    if (scaled) throw Napi::TypeError::New(env, "options.eigvalScale: not with options.config");
    auto prec = PreconditioningFromJs(o.Get("config").As<Napi::Object>());
    wrapped.emplace(prec, gaussian_network(prec.kind, DiscreteSigmas(prec.schedule), mean, vecs, vals));
    ScheduleSpec spec;
    if (o.Has("schedule")) spec.kind = StringField(o, "options", "schedule");
    spec.sigma_max = NumberField(o, "options", "startSigma", 0, 0);
    sigmas = make_sigmas(*wrapped, kind, steps, spec);
    denoise.fn = [&wrapped, n, d](const mx::array& x, float s) {
      auto out = (*wrapped)(mx::reshape(x, {n, 1, 1, d}), mx::full({n}, s));
      return mx::reshape(out, {n, d});
    };
    denoise.rows_fn = [&wrapped, d](const mx::array& x, const mx::array& s, const mx::array&) {
      const int k = x.shape(0);
      return mx::reshape((*wrapped)(mx::reshape(x, {k, 1, 1, d}), s), {k, d});
    };
  } else {
    sigmas = schedule_karras(steps, smin, smax, NumberField(o, "options", "rho", 7));
    denoise = gaussian_denoiser(mean, vecs, vals);
  }
  const double s0 = sigmas.front();
  // x_T ~ N(mean, Sigma + s0^2 I): the exact start of the reverse process.
  auto coords0 = mx::matmul(mx::random::normal({n, d}, mx::float32, k_init), vecs);
  auto start_scale = mx::sqrt(mx::add(vals, mx::array(static_cast<float>(s0 * s0))));
  auto x_T = mx::add(mean, mx::matmul(mx::multiply(coords0, start_scale), mx::transpose(vecs)));
  SamplerOptions opts;
  opts.key = k_sampler;
  opts.eta = NumberField(o, "options", "eta", 0, 0);
  // The consistency sampler re-noises to sqrt(tau^2 - sigma_min^2): the schedule's floor.
  opts.sigma_min = wrapped ? wrapped->sigma_min() : smin;
  SampleResult r{x_T, 0, 0};
  std::vector<int> nfe_per_image;
  long rows_seen = 0;
  int calls = 0, rejected = 0;
  if (kind == SamplerKind::Adaptive) {
    // Count what reaches the denoiser, independently of the sampler's own bookkeeping.
    DenoiseFn counted = denoise;
    counted.rows_fn = [inner = denoise.rows_fn, &rows_seen, &calls](const mx::array& x, const mx::array& s,
                                                                      const mx::array& rows) {
      rows_seen += x.shape(0);
      ++calls;
      return inner(x, s, rows);
    };
    AdaptiveOptions ao;
    ao.rtol = NumberField(o, "options", "rtol", ao.rtol, 0);
    ao.atol = NumberField(o, "options", "atol", ao.atol, 0);
    ao.h_init = NumberField(o, "options", "hInit", ao.h_init, 0);
    auto a = sample_adaptive(counted, x_T, s0, wrapped ? wrapped->sigma_min() : smin, ao);
    r.x = a.x;
    nfe_per_image = a.nfe_per_image;
    rejected = a.rejected;
    for (int v : a.nfe_per_image) r.nfe = std::max(r.nfe, v);
  } else {
    r = sample(kind, denoise, x_T, sigmas, opts);
  }
  // The probability-flow ODE scales each eigen-coordinate by sqrt((lambda + s^2)/(lambda + smax^2)).
  auto exact_scale = mx::sqrt(mx::divide(vals, mx::add(vals, mx::array(static_cast<float>(s0 * s0)))));
  auto exact = mx::add(mean, mx::matmul(mx::multiply(mx::matmul(mx::subtract(x_T, mean), vecs), exact_scale), mx::transpose(vecs)));
  auto out = Napi::Object::New(env);
  out.Set("samples", MxToFloat32Array(env, r.x));
  out.Set("exact", MxToFloat32Array(env, exact));
  out.Set("nfe", r.nfe);
  out.Set("sigmaMax", s0);
  if (kind == SamplerKind::Adaptive) {
    auto per = Napi::Int32Array::New(env, nfe_per_image.size());
    std::copy(nfe_per_image.begin(), nfe_per_image.end(), per.Data());
    out.Set("nfePerImage", per);
    out.Set("calls", calls);
    out.Set("rowsEvaluated", static_cast<double>(rows_seen));
    out.Set("rejected", rejected);
  }
  return out;
}

}  // namespace

void InitSampling(Napi::Env env, Napi::Object exports) {
  auto s = Napi::Object::New(env);
  s.Set("sigmas", Napi::Function::New(env, Guarded<Sigmas>, "sigmas"));
  s.Set("gaussian", Napi::Function::New(env, Guarded<Gaussian>, "gaussian"));
  s.Set("learnGaussian", Napi::Function::New(env, Guarded<LearnGaussianSchedule>, "learnGaussian"));
  exports.Set("sampling", s);
}

}  // namespace anneal::addon
