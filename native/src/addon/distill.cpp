// The distillation objectives' teacher computations, on the closed-form denoiser of Gaussian
// data, so tests can check them against exact answers (engine/distill/*.h).
// distill.progressiveTarget({config, dim, mean, eigvecs, eigvals, n, x, sigmaT, sigmaMid,
//   sigmaS}): sync -> {xS: Float32Array, target: Float32Array}: the teacher's two DDIM steps
//   from x at sigmaT via sigmaMid to sigmaS, and the student's x-target (x_s - r x) / (1 - r).
// distill.teacherHeunStep({config, dim, mean, eigvecs, eigvals, n, x, sigma, sigmaNext}):
//   sync -> Float32Array: the teacher's Heun step, consistency distillation's x^_{n+1}.
// distill.progressiveLoss({...teacher, x (the data x0), studentMean, grid, weighting?, seed}):
//   sync -> {index: Int32Array, sigmaT, noise, target, weight, perExample: Float32Array, loss}:
//   one evaluation of the progressive objective's loss (progressive_terms) with the Gaussian
//   teacher and, as student, the same Gaussian's denoiser around `studentMean`.
// distill.consistencyLoss({...teacher, x (the data x0), studentMean, sigmas, sigmaMin, huberC,
//   seed}): sync -> {index: Int32Array, sigmaHi, sigmaLo, noise, xLo, target, online, weight,
//   perExample: Float32Array, loss}: one evaluation of the consistency-distillation loss
//   (consistency_terms) with the Gaussian teacher and, as student, the consistency function
//   around the same Gaussian's denoiser centred on `studentMean`, boundary sigmaMin.
// distill.ectPair({sigmaT: number[], step, sigmaMin, q?, halvingEvery?}): sync -> {sigmaR,
//   gap: Float32Array}: consistency training's sigma_r and gap sigma_t - sigma_r at a 1-based
//   step (engine/distill/consistency.h, ect_pair), with ECT's other defaults.
// config: a VP model config ({parameterization: eps | v | x0, schedule?}); the Gaussian
// enters as that parameterization's network output through the Denoiser wrapper (as
// sampling.gaussian does). x: Float32Array [n, dim]; mean [dim], eigvecs [dim, dim] (columns),
// eigvals [dim]. A bad field throws ANNEAL_INVALID_ARGUMENT (TypeError/RangeError naming it,
// Error for sigmas out of order).
#include <cmath>
#include <cstdint>

#include "addon/convert.h"
#include "addon/module.h"
#include "addon/worker.h"
#include "engine/distill/consistency.h"
#include "engine/distill/progressive.h"
#include "engine/distill/teacher.h"
#include "engine/generate.h"

namespace anneal::addon {
namespace {

struct GaussianTeacher {
  Denoiser denoiser;
  mx::array x;
  int n, d;
  mx::array eigvecs, eigvals;
};

GaussianTeacher TeacherFromJs(const Napi::Object& o) {
  auto env = o.Env();
  const int d = IntField(o, "options", "dim", 2, 1, 4096);
  const int n = IntField(o, "options", "n", 1, 1, 1 << 20);
  auto mean = Float32ArrayToMx(o.Get("mean"), "mean", {d});
  auto vecs = Float32ArrayToMx(o.Get("eigvecs"), "eigvecs", {d, d});
  auto vals = Float32ArrayToMx(o.Get("eigvals"), "eigvals", {d});
  auto x = Float32ArrayToMx(o.Get("x"), "x", {n, d});
  if (!o.Get("config").IsObject()) throw Napi::TypeError::New(env, "options.config must be a model config");
  auto prec = PreconditioningFromJs(o.Get("config").As<Napi::Object>());
  if (prec.kind != Parameterization::Eps && prec.kind != Parameterization::V && prec.kind != Parameterization::X0) {
    throw Napi::TypeError::New(env, "options.config.parameterization must be eps, v or x0");
  }
  Denoiser den(prec, gaussian_network(prec.kind, DiscreteSigmas(prec.schedule), mean, vecs, vals));
  return {den, mx::reshape(x, {n, 1, 1, d}), n, d, vecs, vals};
}

double Sigma(const Napi::Object& o, const char* field) {
  const double s = NumberField(o, "options", field, -1, 0);
  if (!o.Get(field).IsNumber()) {
    throw Napi::TypeError::New(o.Env(), std::string("options.") + field + " must be a number");
  }
  return s;
}

Napi::Value ProgressiveTargetJs(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = ObjectArg(info, 0, "options");
  auto t = TeacherFromJs(o);
  const double st = Sigma(o, "sigmaT"), sm = Sigma(o, "sigmaMid"), ss = Sigma(o, "sigmaS");
  if (!(st > sm && sm > ss)) {
    throw std::invalid_argument("sigmaT > sigmaMid > sigmaS >= 0 is required");
  }
  auto full = [&](double s) { return mx::full({t.n}, static_cast<float>(s)); };
  auto r = progressive_target(t.denoiser, t.x, full(st), full(sm), full(ss), std::nullopt);
  auto out = Napi::Object::New(env);
  out.Set("xS", MxToFloat32Array(env, mx::reshape(r.x_s, {t.n, t.d})));
  out.Set("target", MxToFloat32Array(env, mx::reshape(r.target, {t.n, t.d})));
  return out;
}

Napi::Value TeacherHeunStepJs(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = ObjectArg(info, 0, "options");
  auto t = TeacherFromJs(o);
  const double s = Sigma(o, "sigma"), sn = Sigma(o, "sigmaNext");
  if (!(s > sn && sn > 0)) throw std::invalid_argument("sigma > sigmaNext > 0 is required");
  auto x = consistency_teacher_step(t.denoiser, t.x, mx::full({t.n}, static_cast<float>(s)),
                                    mx::full({t.n}, static_cast<float>(sn)), std::nullopt);
  return MxToFloat32Array(env, mx::reshape(x, {t.n, t.d}));
}

Napi::Value ProgressiveLossJs(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = ObjectArg(info, 0, "options");
  auto t = TeacherFromJs(o);
  auto student_mean = Float32ArrayToMx(o.Get("studentMean"), "studentMean", {t.d});
  auto grid = NumberArrayField(o, "options", "grid");
  if (grid.size() < 3 || grid.size() % 2 == 0 || grid.back() != 0) {
    throw Napi::RangeError::New(env, "options.grid must hold 2N + 1 sigmas ending in 0");
  }
  for (std::size_t i = 1; i < grid.size(); ++i) {
    if (!(grid[i] < grid[i - 1])) throw Napi::RangeError::New(env, "options.grid must be strictly decreasing");
  }
  DistillWeighting w = DistillWeighting::TruncatedSnr;
  if (o.Has("weighting") && !o.Get("weighting").IsUndefined()) {
    try {
      w = parse_distill_weighting(o.Get("weighting").ToString().Utf8Value());
    } catch (const std::exception& e) {
      throw Napi::TypeError::New(env, std::string("options.weighting: ") + e.what());
    }
  }
  const auto seed = static_cast<std::uint64_t>(LongField(o, "options", "seed", 0, 0));
  const auto& prec = t.denoiser.preconditioning();
  Denoiser student(prec, gaussian_network(prec.kind, t.denoiser.table(), student_mean, t.eigvecs, t.eigvals));
  auto keys = mx::random::split(mx::random::key(seed), 2);
  auto r = progressive_terms(t.denoiser, student, t.x, std::nullopt, grid, w, mx::take(keys, 0, 0),
                             mx::take(keys, 1, 0));
  auto loss = mx::mean(mx::multiply(r.weight, r.per_example));
  mx::eval({r.index, r.sigma_t, r.noise, r.target, r.weight, r.per_example, loss});
  auto out = Napi::Object::New(env);
  auto index = Napi::Int32Array::New(env, t.n);
  auto idx = mx::astype(r.index, mx::int32);
  mx::eval(idx);
  for (int i = 0; i < t.n; ++i) index[i] = idx.data<int32_t>()[i];
  out.Set("index", index);
  out.Set("sigmaT", MxToFloat32Array(env, r.sigma_t));
  out.Set("noise", MxToFloat32Array(env, mx::reshape(r.noise, {t.n, t.d})));
  out.Set("target", MxToFloat32Array(env, mx::reshape(r.target, {t.n, t.d})));
  out.Set("weight", MxToFloat32Array(env, r.weight));
  out.Set("perExample", MxToFloat32Array(env, r.per_example));
  out.Set("loss", loss.item<float>());
  return out;
}

Napi::Value ConsistencyLossJs(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = ObjectArg(info, 0, "options");
  auto t = TeacherFromJs(o);
  auto student_mean = Float32ArrayToMx(o.Get("studentMean"), "studentMean", {t.d});
  auto sigmas = NumberArrayField(o, "options", "sigmas");
  if (sigmas.size() < 2) throw Napi::RangeError::New(env, "options.sigmas must hold N >= 2 sigmas");
  for (std::size_t i = 1; i < sigmas.size(); ++i) {
    if (!(sigmas[i] < sigmas[i - 1])) throw Napi::RangeError::New(env, "options.sigmas must be strictly decreasing");
  }
  const double sigma_min = Sigma(o, "sigmaMin");
  if (!(sigma_min > 0) || !(sigmas.back() >= sigma_min)) {
    throw Napi::RangeError::New(env, "options.sigmaMin must be positive and at most the last sigma");
  }
  const double huber_c = NumberField(o, "options", "huberC", 0.01, 0);
  const auto seed = static_cast<std::uint64_t>(LongField(o, "options", "seed", 0, 0));
  const auto& prec = t.denoiser.preconditioning();
  Preconditioning cm = prec;
  cm.kind = Parameterization::Consistency;
  cm.inner = prec.kind;
  cm.sigma_min = sigma_min;
  Denoiser f(cm, gaussian_network(prec.kind, t.denoiser.table(), student_mean, t.eigvecs, t.eigvals));
  auto keys = mx::random::split(mx::random::key(seed), 2);
  auto r = consistency_terms(t.denoiser, f, t.x, std::nullopt, sigmas, huber_c, mx::take(keys, 0, 0),
                             mx::take(keys, 1, 0));
  auto loss = mx::mean(mx::multiply(r.weight, r.per_example));
  auto idx = mx::astype(r.index, mx::int32);
  mx::eval({idx, r.sigma_hi, r.sigma_lo, r.noise, r.x_lo, r.target, r.online, r.weight, r.per_example, loss});
  auto out = Napi::Object::New(env);
  auto index = Napi::Int32Array::New(env, t.n);
  for (int i = 0; i < t.n; ++i) index[i] = idx.data<int32_t>()[i];
  auto rows = [&](const mx::array& a) { return MxToFloat32Array(env, mx::reshape(a, {t.n, t.d})); };
  out.Set("index", index);
  out.Set("sigmaHi", MxToFloat32Array(env, r.sigma_hi));
  out.Set("sigmaLo", MxToFloat32Array(env, r.sigma_lo));
  out.Set("noise", rows(r.noise));
  out.Set("xLo", rows(r.x_lo));
  out.Set("target", rows(r.target));
  out.Set("online", rows(r.online));
  out.Set("weight", MxToFloat32Array(env, r.weight));
  out.Set("perExample", MxToFloat32Array(env, r.per_example));
  out.Set("loss", loss.item<float>());
  return out;
}

Napi::Value EctPairJs(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = ObjectArg(info, 0, "options");
  auto sigma_t = NumberArrayField(o, "options", "sigmaT");
  if (sigma_t.empty()) throw Napi::RangeError::New(env, "options.sigmaT must hold at least one sigma");
  const double step = NumberField(o, "options", "step", -1, 1);
  if (!o.Get("step").IsNumber()) throw Napi::TypeError::New(env, "options.step must be a number >= 1");
  const double sigma_min = Sigma(o, "sigmaMin");
  if (!(sigma_min > 0)) throw Napi::RangeError::New(env, "options.sigmaMin must be positive");
  ConsistencyTrainingOptions c;
  c.q = NumberField(o, "options", "q", c.q, 0);
  if (!(c.q > 1)) throw Napi::RangeError::New(env, "options.q must be > 1");
  c.halving_every = LongField(o, "options", "halvingEvery", c.halving_every, 1);
  for (double s : sigma_t) {
    if (!(s > sigma_min) || !std::isfinite(s)) {
      throw Napi::RangeError::New(env, "options.sigmaT entries must be finite and above sigmaMin");
    }
  }
  auto pair = ect_pair(sigma_table(sigma_t), mx::array(static_cast<float>(step)), c, sigma_min);
  auto out = Napi::Object::New(env);
  out.Set("sigmaR", MxToFloat32Array(env, pair.sigma_r));
  out.Set("gap", MxToFloat32Array(env, pair.gap));
  return out;
}

}  // namespace

void InitDistill(Napi::Env env, Napi::Object exports) {
  auto s = Napi::Object::New(env);
  s.Set("progressiveTarget", Napi::Function::New(env, Guarded<ProgressiveTargetJs>, "progressiveTarget"));
  s.Set("teacherHeunStep", Napi::Function::New(env, Guarded<TeacherHeunStepJs>, "teacherHeunStep"));
  s.Set("progressiveLoss", Napi::Function::New(env, Guarded<ProgressiveLossJs>, "progressiveLoss"));
  s.Set("consistencyLoss", Napi::Function::New(env, Guarded<ConsistencyLossJs>, "consistencyLoss"));
  s.Set("ectPair", Napi::Function::New(env, Guarded<EctPairJs>, "ectPair"));
  exports.Set("distill", s);
}

}  // namespace anneal::addon
