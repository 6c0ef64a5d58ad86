#include "engine/generate.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "engine/objective.h"

namespace anneal {

namespace {
std::string num(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}
}  // namespace

std::vector<double> make_sigmas(const Denoiser& d, SamplerKind sampler, int steps, const ScheduleSpec& s) {
  std::string kind = s.kind;
  if (kind == "default" && sampler == SamplerKind::Consistency) {
    // Consistency sampling evaluates f at sigma_max, then at each re-noised tau. A step at
    // sigma_min would be the identity (f(x, sigma_min) = x, no noise added), so the default
    // is Karras rho 7 over steps + 1 points with sigma_min dropped: 1 step is [sigma_max, 0],
    // 2 steps add the Karras midpoint. Song et al. 2023 pick tau by search; an explicit list
    // does that here.
    ScheduleSpec karras = s;
    karras.kind = "karras";
    auto sig = make_sigmas(d, sampler, steps + 1, karras);
    sig.erase(sig.end() - 2);
    return sig;
  }
  if (kind == "default") {
    const bool vp = d.preconditioning().kind != Parameterization::Edm &&
                    d.preconditioning().kind != Parameterization::Consistency;
    kind = (sampler == SamplerKind::Ddpm || sampler == SamplerKind::Ddim) && vp ? "uniform" : "karras";
  }
  double top = d.sigma_max();
  if (s.sigma_max != 0) {
    if (kind == "explicit") throw std::invalid_argument("sigma_max: an explicit schedule lists its own sigmas");
    if (!(s.sigma_max > d.sigma_min()) || !(s.sigma_max <= d.sigma_max())) {
      throw std::invalid_argument("sigma_max " + num(s.sigma_max) + " is outside this model's sigma range (" +
                                  num(d.sigma_min()) + ", " + num(d.sigma_max()) + "]");
    }
    top = s.sigma_max;
  }
  if (kind == "uniform") {
    if (s.sigma_max == 0) return schedule_uniform_t(d.table(), steps);
    // The largest timestep whose sigma is <= sigma_max (the table increases with t).
    const auto& table = d.table().sigmas();
    const long t = static_cast<long>(std::upper_bound(table.begin(), table.end(), top) - table.begin()) - 1;
    if (t < 0) {
      throw std::invalid_argument("sigma_max " + num(top) + " is below the table's smallest sigma " +
                                  num(table.front()));
    }
    return schedule_uniform_t(d.table(), steps, t);
  }
  if (kind == "karras") return schedule_karras(steps, d.sigma_min(), top, s.rho);
  if (kind == "exponential") return schedule_exponential(steps, d.sigma_min(), top);
  if (kind == "explicit") return schedule_explicit(s.sigmas);
  throw std::invalid_argument("unknown schedule \"" + kind + "\" (default, uniform, karras, exponential, explicit)");
}

DenoiseFn model_denoise_fn(const Denoiser& d, const std::optional<mx::array>& labels, int b, int classes,
                           double guidance, bool clip_denoised) {
  DenoiseFn fn;
  // fn: the whole batch at one sigma; rows_fn: the rows `rows` of the batch at their own
  // sigmas, each with its own label (the adaptive sampler's per-image path).
  if (labels && guidance != 1.0) {
    auto both = mx::concatenate({*labels, mx::full({b}, classes, mx::int32)}, 0);
    const float w = static_cast<float>(guidance);
    auto combine = [w](const mx::array& out, int k) {
      auto cond = mx::slice(out, {0, 0, 0, 0}, {k, out.shape(1), out.shape(2), out.shape(3)});
      auto uncond = mx::slice(out, {k, 0, 0, 0}, {2 * k, out.shape(1), out.shape(2), out.shape(3)});
      return mx::add(uncond, mx::multiply(mx::subtract(cond, uncond), mx::array(w)));
    };
    fn.fn = [&d, both, b, combine](const mx::array& xi, float s) {
      return combine(d(mx::concatenate({xi, xi}, 0), mx::full({2 * b}, s), both), b);
    };
    fn.rows_fn = [&d, labels, classes, combine](const mx::array& xi, const mx::array& s, const mx::array& rows) {
      const int k = xi.shape(0);
      auto l = mx::concatenate({mx::take(*labels, rows, 0), mx::full({k}, classes, mx::int32)}, 0);
      return combine(d(mx::concatenate({xi, xi}, 0), mx::concatenate({s, s}, 0), l), k);
    };
    fn.evals_per_call = 2;
  } else {
    fn.fn = [&d, labels, b](const mx::array& xi, float s) { return d(xi, mx::full({b}, s), labels); };
    fn.rows_fn = [&d, labels](const mx::array& xi, const mx::array& s, const mx::array& rows) {
      return d(xi, s, labels ? std::optional<mx::array>(mx::take(*labels, rows, 0)) : std::nullopt);
    };
  }
  if (clip_denoised) {
    fn.fn = [inner = fn.fn](const mx::array& xi, float s) {
      return mx::clip(inner(xi, s), mx::array(-1.0f), mx::array(1.0f));
    };
    fn.rows_fn = [inner = fn.rows_fn](const mx::array& xi, const mx::array& s, const mx::array& rows) {
      return mx::clip(inner(xi, s, rows), mx::array(-1.0f), mx::array(1.0f));
    };
  }
  return fn;
}

GenerateResult generate(const Params& params, const UNetConfig& cfg, const Preconditioning& prec,
                        const GenerateSpec& spec, const std::function<void(int, int)>& on_step) {
  if (spec.n < 1) throw std::invalid_argument("n must be >= 1");
  const bool conditional = cfg.num_class_embeds > 0;
  const int classes = conditional ? cfg.num_class_embeds - 1 : 0;  // the last embedding is the null class
  if (!conditional && spec.class_label >= 0) {
    throw std::invalid_argument("this model is unconditional: --class needs a class-conditional model");
  }
  if (conditional && spec.class_label >= classes) {
    throw std::invalid_argument("class " + std::to_string(spec.class_label) + " is out of range (0.." +
                                std::to_string(classes - 1) + ")");
  }
  // Consistency models and the consistency sampler belong together: f is a one-step map to
  // the data, not a denoiser an ODE or SDE solver integrates, and a diffusion model's D is not
  // a consistency function. Guidance is not defined for consistency models here (none of the
  // distillation objectives distils a guided teacher).
  const bool cm = prec.kind == Parameterization::Consistency;
  if (spec.sampler == SamplerKind::Consistency && !cm) {
    throw std::invalid_argument(
        "the consistency sampler needs a consistency model (parameterization \"consistency\"); this model is a "
        "diffusion model: use ddpm, ddim, euler, heun, dpmpp-2m, dpm-solver-2 or adaptive");
  }
  if (cm && spec.sampler != SamplerKind::Consistency) {
    throw std::invalid_argument(
        "a consistency model samples with the consistency sampler only (its f maps to the data in one step; "
        "diffusion samplers would integrate it as if it were a denoiser)");
  }
  if (cm && conditional && spec.guidance != 1.0) {
    throw std::invalid_argument(
        "guidance is not supported for consistency models (they are distilled without guidance); use guidance 1");
  }
  const bool guided = conditional && spec.guidance != 1.0;
  if (spec.dtype != mx::float32 && spec.dtype != mx::bfloat16 && spec.dtype != mx::float16) {
    throw std::invalid_argument("dtype must be float32, bfloat16 or float16");
  }
  const int height = spec.height > 0 ? spec.height : cfg.sample_size;
  const int width = spec.width > 0 ? spec.width : cfg.sample_size;
  const int factor = 1 << (static_cast<int>(cfg.block_out_channels.size()) - 1);
  if (height % factor != 0 || width % factor != 0) {
    throw std::invalid_argument(std::to_string(height) + "x" + std::to_string(width) +
                                ": this U-Net takes sides that are multiples of " + std::to_string(factor) +
                                " (2^(levels-1))");
  }
  // The schedule as training saw images of this size (unchanged without a resolution shift).
  Preconditioning run_prec = prec;
  run_prec.schedule = at_resolution(prec.schedule, height, width);
  // float32: the weights as they are (unet_network casts nothing), so output is unchanged.
  UNetConfig run_cfg = cfg;
  run_cfg.attention_exec = spec.attention;
  Denoiser d(run_prec, unet_network(params, run_cfg, spec.dtype));
  const bool adaptive = spec.sampler == SamplerKind::Adaptive;
  if (adaptive && spec.step_noise) {
    throw std::invalid_argument("step_noise: the adaptive sampler is deterministic and injects no noise");
  }
  if (adaptive && spec.schedule.kind == "explicit") {
    throw std::invalid_argument("sigmas: the adaptive sampler chooses its own sigmas; an explicit list does not apply");
  }
  // The adaptive sampler runs from the schedule's top (the Karras schedule's, which starts at
  // sigma_max when one is given) down to the model's smallest sigma.
  const auto sigmas = adaptive ? make_sigmas(d, SamplerKind::Heun, 1, [&] {
    ScheduleSpec k = spec.schedule;
    k.kind = "karras";
    return k;
  }())
                               : make_sigmas(d, spec.sampler, spec.steps, spec.schedule);
  const int steps = static_cast<int>(sigmas.size()) - 1;
  const mx::Shape image{height, width, cfg.in_channels};
  auto expect_shape = [](const mx::array& a, const mx::Shape& want, const char* field) {
    if (a.shape() != want) {
      std::string w, got;
      for (int v : want) w += (w.empty() ? "" : ", ") + std::to_string(v);
      for (int v : a.shape()) got += (got.empty() ? "" : ", ") + std::to_string(v);
      throw std::invalid_argument(std::string(field) + " has shape [" + got + "], expected [" + w + "]");
    }
  };
  if (spec.noise) expect_shape(*spec.noise, {spec.n, image[0], image[1], image[2]}, "noise");
  if (spec.step_noise) expect_shape(*spec.step_noise, {steps, spec.n, image[0], image[1], image[2]}, "step_noise");
  std::vector<mx::array> chunks, noise_chunks, step_noise_chunks;
  GenerateResult result{mx::array(0.0f), 0, 0, std::nullopt, std::nullopt, {}, 0, 0};
  const int total_chunks = (spec.n + spec.chunk - 1) / spec.chunk;
  for (int c = 0; c < total_chunks; ++c) {
    const int b = std::min(spec.chunk, spec.n - c * spec.chunk);
    const int row = c * spec.chunk;
    // The chunk's index in the whole run: its key and labels.
    const int run_chunk = spec.first_chunk + c;
    auto key = mx::random::key(spec.seed * 1000003ull + static_cast<std::uint64_t>(run_chunk));
    auto [k_init, k_sampler] = mx::random::split(key);
    auto unit = spec.noise ? mx::astype(mx::slice(*spec.noise, {row, 0, 0, 0}, {row + b, image[0], image[1], image[2]}),
                                        mx::float32)
                           : mx::random::normal({b, image[0], image[1], image[2]}, mx::float32, k_init);
    auto x = mx::multiply(unit, mx::array(static_cast<float>(sigmas.front())));
    StepNoiseFn step_noise = key_noise(k_sampler);
    if (spec.step_noise) {
      step_noise = [all = *spec.step_noise, row, b](int i, const mx::Shape& shape, mx::Dtype dtype) {
        auto s = mx::slice(all, {i, row, 0, 0, 0}, {i + 1, row + b, shape[1], shape[2], shape[3]});
        return mx::astype(mx::reshape(s, shape), dtype);
      };
    }
    // Recorded per-step draws; steps that draw none stay zeros.
    std::vector<mx::array> drawn(spec.record_noise ? steps : 0, mx::zeros({b, image[0], image[1], image[2]}));
    if (spec.record_noise) {
      noise_chunks.push_back(unit);
      step_noise = [inner = step_noise, &drawn](int i, const mx::Shape& shape, mx::Dtype dtype) {
        auto z = inner(i, shape, dtype);
        drawn[i] = mx::astype(z, mx::float32);
        return z;
      };
    }
    std::optional<mx::array> labels;
    if (conditional) {
      std::vector<int> l(b);
      for (int i = 0; i < b; ++i) l[i] = spec.class_label >= 0 ? spec.class_label : (run_chunk * spec.chunk + i) % classes;
      labels = mx::array(l.data(), {b}, mx::int32);
    }
    DenoiseFn fn = model_denoise_fn(d, labels, b, classes, guided ? spec.guidance : 1.0, spec.clip_denoised);
    if (adaptive) {
      AdaptiveOptions ao;
      ao.rtol = spec.rtol;
      ao.atol = spec.atol;
      ao.callback = [&](int finished, int) {
        if (on_step) on_step(row + finished, spec.n);
      };
      auto r = sample_adaptive(fn, x, sigmas.front(), d.sigma_min(), ao);
      chunks.push_back(r.x);
      result.nfe_per_image.insert(result.nfe_per_image.end(), r.nfe_per_image.begin(), r.nfe_per_image.end());
      for (int v : r.steps_per_image) result.steps = std::max(result.steps, v);
      for (int v : r.nfe_per_image) result.nfe = std::max(result.nfe, v);
      result.calls += r.calls;
      result.rows_evaluated += r.rows_evaluated;
      result.rejected += r.rejected;
      continue;
    }
    SamplerOptions opts;
    opts.noise = step_noise;
    opts.eta = spec.eta;
    opts.sigma_min = d.sigma_min();
    opts.callback = [&](int i, int n, double) {
      if (on_step) on_step(c * n + i + 1, total_chunks * n);
    };
    auto r = sample(spec.sampler, fn, x, sigmas, opts);
    chunks.push_back(r.x);
    if (spec.record_noise) step_noise_chunks.push_back(mx::stack(drawn, 0));
    result.steps = r.steps;
    result.nfe = r.nfe;
  }
  result.images = mx::clip(chunks.size() == 1 ? chunks[0] : mx::concatenate(chunks, 0), mx::array(-1.0f), mx::array(1.0f));
  if (spec.record_noise && adaptive) {
    // Deterministic: the initial noise is all there is.
    result.noise = noise_chunks.size() == 1 ? noise_chunks[0] : mx::concatenate(noise_chunks, 0);
    mx::eval(*result.noise);
  } else if (spec.record_noise) {
    result.noise = noise_chunks.size() == 1 ? noise_chunks[0] : mx::concatenate(noise_chunks, 0);
    result.step_noise = step_noise_chunks.size() == 1 ? step_noise_chunks[0] : mx::concatenate(step_noise_chunks, 1);
    mx::eval({*result.noise, *result.step_noise});
  }
  mx::eval(result.images);
  return result;
}

LearnScheduleResult learn_model_schedule(const Params& params, const UNetConfig& cfg, const Preconditioning& prec,
                                         const ModelScheduleSpec& spec, const LearnProgressFn& progress,
                                         const LearnCancelFn& cancelled) {
  if (spec.n < 1) throw std::invalid_argument("n must be >= 1");
  if (spec.seed == spec.heldout_seed) {
    throw std::invalid_argument("the held-out seed must differ from the calibration seed (both are " +
                                std::to_string(spec.seed) + "): equal seeds draw the same noise, so the held-out "
                                                            "error would be the training error");
  }
  if (prec.kind == Parameterization::Consistency) {
    throw std::invalid_argument(
        "schedule learning is for diffusion models; a consistency model samples with the consistency sampler, "
        "which is stochastic");
  }
  const int steps = steps_for_nfe(spec.sampler, spec.nfe);
  const bool conditional = cfg.num_class_embeds > 0;
  const int classes = conditional ? cfg.num_class_embeds - 1 : 0;
  if (!conditional && spec.class_label >= 0) {
    throw std::invalid_argument("this model is unconditional: --class needs a class-conditional model");
  }
  if (conditional && spec.class_label >= classes) {
    throw std::invalid_argument("class " + std::to_string(spec.class_label) + " is out of range (0.." +
                                std::to_string(classes - 1) + ")");
  }
  Denoiser d(prec, [&params, &cfg](const mx::array& x, const mx::array& t, const std::optional<mx::array>& c) {
    return unet_forward(params, cfg, x, t, c);
  });
  LearnScheduleSpec ls;
  ls.sampler = spec.sampler;
  ls.initial = make_sigmas(d, spec.sampler, steps, spec.initial);
  ls.sigma_min = d.sigma_min();
  ls.reference = spec.reference;
  ls.reference_steps = spec.reference_steps;
  ls.sweeps = spec.sweeps;
  ls.known_reference = spec.known_reference;
  ls.resume = spec.resume;
  for (const auto& kind : spec.compare_kinds) {
    ScheduleSpec c = spec.initial;
    c.kind = kind;
    ls.compare.push_back(make_sigmas(d, spec.sampler, steps, c));
  }
  for (const auto& sigmas : spec.compare_sigmas) {
    if (static_cast<int>(sigmas.size()) != steps + 1) {
      throw std::invalid_argument("a schedule to compare has " + std::to_string(sigmas.size()) + " sigmas; " +
                                  std::to_string(steps) + " steps need " + std::to_string(steps + 1));
    }
    ls.compare.push_back(sigmas);
  }
  const mx::Shape shape{spec.n, cfg.sample_size, cfg.sample_size, cfg.in_channels};
  // The unit noise `generate` draws for its first chunk with the same seed.
  auto draw = [&](std::uint64_t seed) {
    auto [k_init, k_sampler] = mx::random::split(mx::random::key(seed * 1000003ull));
    return mx::random::normal(shape, mx::float32, k_init);
  };
  std::optional<mx::array> labels;
  if (conditional) {
    std::vector<int> l(spec.n);
    for (int i = 0; i < spec.n; ++i) l[i] = spec.class_label >= 0 ? spec.class_label : i % classes;
    labels = mx::array(l.data(), {spec.n}, mx::int32);
  }
  auto fn = model_denoise_fn(d, labels, spec.n, classes, conditional ? spec.guidance : 1.0, spec.clip_denoised);
  return learn_schedule(fn, draw(spec.seed), draw(spec.heldout_seed), ls, progress, cancelled);
}

DenoiseFn gaussian_denoiser(const mx::array& mean, const mx::array& eigvecs, const mx::array& eigvals) {
  DenoiseFn fn;
  fn.fn = [mean, eigvecs, eigvals](const mx::array& x, float sigma) {
    auto shrink = mx::divide(eigvals, mx::add(eigvals, mx::array(sigma * sigma)));
    auto centered = mx::subtract(x, mean);
    auto coords = mx::matmul(centered, eigvecs);  // rows of x in the eigenbasis
    return mx::add(mean, mx::matmul(mx::multiply(coords, shrink), mx::transpose(eigvecs)));
  };
  fn.rows_fn = [mean, eigvecs, eigvals](const mx::array& x, const mx::array& sigma, const mx::array& rows) {
    auto s = mx::reshape(sigma, {-1, 1});
    auto vals = eigvals.ndim() == 2 ? mx::take(eigvals, rows, 0) : eigvals;
    auto shrink = mx::divide(vals, mx::add(vals, mx::square(s)));  // [k, d]
    auto coords = mx::matmul(mx::subtract(x, mean), eigvecs);
    return mx::add(mean, mx::matmul(mx::multiply(coords, shrink), mx::transpose(eigvecs)));
  };
  return fn;
}

NetworkFn gaussian_network(Parameterization kind, const DiscreteSigmas& table, const mx::array& mean,
                           const mx::array& eigvecs, const mx::array& eigvals) {
  if (kind != Parameterization::Eps && kind != Parameterization::V && kind != Parameterization::X0) {
    throw std::invalid_argument("gaussian_network: a VP parameterization (eps, v or x0) is needed");
  }
  auto exact = gaussian_denoiser(mean, eigvecs, eigvals);
  return [kind, table, exact](const mx::array& x_in, const mx::array& t, const std::optional<mx::array>&) {
    const int n = x_in.shape(0);
    const int d = x_in.shape(3);
    auto ts = mx::astype(t, mx::float32);
    mx::eval(ts);
    std::vector<float> sig(n), in_scale(n);
    for (int i = 0; i < n; ++i) {
      const double s = table.t_to_sigma(static_cast<double>(ts.data<float>()[i]));
      sig[i] = static_cast<float>(s);
      in_scale[i] = static_cast<float>(std::sqrt(1.0 + s * s));
    }
    auto sigma = mx::array(sig.data(), {n, 1}, mx::float32);
    auto x = mx::multiply(mx::reshape(x_in, {n, d}), mx::array(in_scale.data(), {n, 1}, mx::float32));
    // One sigma for the batch (the fixed-step samplers), or one per row (the distillation
    // objectives' draws, the adaptive sampler).
    bool one = true;
    for (int i = 1; i < n; ++i) one = one && sig[i] == sig[0];
    mx::array den = one ? exact.fn(x, sig[0]) : exact.rows_fn(x, mx::reshape(sigma, {n}), mx::arange(n, mx::int32));
    auto eps = mx::divide(mx::subtract(x, den), sigma);
    mx::array out = den;
    if (kind == Parameterization::Eps) out = eps;
    if (kind == Parameterization::V) {
      auto alpha = mx::rsqrt(mx::add(mx::square(sigma), mx::array(1.0f)));
      out = mx::subtract(mx::multiply(alpha, eps), mx::multiply(mx::multiply(sigma, alpha), den));
    }
    return mx::reshape(out, {n, 1, 1, d});
  };
}

}  // namespace anneal
