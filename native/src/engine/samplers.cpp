#include "engine/samplers.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace anneal {

SamplerKind parse_sampler(const std::string& name) {
  if (name == "ddpm") return SamplerKind::Ddpm;
  if (name == "ddim") return SamplerKind::Ddim;
  if (name == "euler") return SamplerKind::Euler;
  if (name == "heun") return SamplerKind::Heun;
  if (name == "dpmpp-2m") return SamplerKind::DpmPp2m;
  if (name == "consistency") return SamplerKind::Consistency;
  if (name == "adaptive") return SamplerKind::Adaptive;
  if (name == "dpm-solver-2") return SamplerKind::DpmSolver2;
  throw std::invalid_argument("unknown sampler \"" + name +
                              "\" (ddpm, ddim, euler, heun, dpmpp-2m, dpm-solver-2, consistency, adaptive)");
}

int sampler_nfe(SamplerKind kind, int steps) {
  return kind == SamplerKind::Heun || kind == SamplerKind::DpmSolver2 ? 2 * steps - 1 : steps;
}

namespace {

mx::array scale(const mx::array& x, double s) { return mx::multiply(x, mx::array(static_cast<float>(s))); }
mx::array f32(double v) { return mx::array(static_cast<float>(v)); }

// The ancestral step shared by DDPM (eta = 1) and DDIM (eta): split the move to sigma_next
// into a deterministic part down to sigma_down and fresh noise of scale sigma_up
// (k-diffusion get_ancestral_step). In sigma space this is exactly DDIM's eta-family
// update, and eta = 1 is DDPM's posterior sample (Song et al. 2021, eq. 12 and 16).
mx::array ancestral_step(const mx::array& x, const mx::array& denoised, double sigma, double sigma_next,
                         double eta, int step, const StepNoiseFn& noise) {
  if (sigma_next == 0.0) return denoised;
  double sigma_up = std::min(
      sigma_next, eta * std::sqrt(sigma_next * sigma_next * (sigma * sigma - sigma_next * sigma_next) / (sigma * sigma)));
  const double sigma_down = std::sqrt(sigma_next * sigma_next - sigma_up * sigma_up);
  auto out = ddim_step(x, denoised, f32(sigma), f32(sigma_down));
  if (sigma_up > 0.0) {
    if (!noise) throw std::invalid_argument("a stochastic sampler needs a noise key or given noise");
    out = mx::add(out, scale(noise(step, x.shape(), x.dtype()), sigma_up));
  }
  return out;
}

}  // namespace

mx::array ddim_step(const mx::array& x, const mx::array& denoised, const mx::array& sigma,
                    const mx::array& sigma_next) {
  return mx::add(denoised, mx::multiply(mx::divide(sigma_next, sigma), mx::subtract(x, denoised)));
}

mx::array heun_step(const mx::array& x, const mx::array& denoised, const mx::array& sigma, const mx::array& sigma_next,
                    const std::function<mx::array(const mx::array&)>& denoise_next) {
  auto h = mx::subtract(sigma_next, sigma);
  auto d = mx::divide(mx::subtract(x, denoised), sigma);
  auto x_euler = mx::add(x, mx::multiply(d, h));
  auto d2 = mx::divide(mx::subtract(x_euler, denoise_next(x_euler)), sigma_next);
  return mx::add(x, mx::multiply(mx::add(d, d2), mx::multiply(h, mx::array(0.5f))));
}

StepNoiseFn key_noise(mx::array key) {
  return [key = std::move(key)](int, const mx::Shape& shape, mx::Dtype dtype) mutable {
    auto [next, sub] = mx::random::split(key);
    key = next;
    return mx::random::normal(shape, dtype, sub);
  };
}

namespace {

// Per-row scalars [k] shaped to broadcast against rows of x ([k, 1, ...]).
mx::array per_row(const std::vector<float>& v, const mx::array& x) {
  mx::Shape shape(x.ndim(), 1);
  shape[0] = static_cast<int>(v.size());
  return mx::array(v.data(), shape, mx::float32);
}

mx::array take_rows(const mx::array& a, const std::vector<int>& idx) {
  return mx::take(a, mx::array(idx.data(), {static_cast<int>(idx.size())}, mx::int32), 0);
}

}  // namespace

// The embedded pair is DPM-Solver-12 in its data-prediction (DPM-Solver++) form, in lambda =
// -log(sigma) (Lu et al. 2022, "DPM-Solver", sec. 3.3 and its adaptive step size solver
// DPM-Solver-12; Lu et al. 2022, "DPM-Solver++", the 2S update with r = 1/2). With alpha = 1 (sigma space) and
// h = lambda_next - lambda:
//   low (order 1, the DDIM step):  x_lo = (s_next / s) x - expm1(-h) D(x; s)
//   high (order 2, midpoint):      u = (s_mid / s) x - expm1(-h / 2) D(x; s),  s_mid = s e^{-h/2}
//                                  x_hi = (s_next / s) x - expm1(-h) D(u; s_mid)
// Both share D(x; s), so a step costs 2 evaluations, and x_hi - x_lo estimates the local error
// of the first-order step (O(h^2)); the step continues from x_hi (local extrapolation).
// Why this pair rather than Heun-Euler in sigma: the probability-flow ODE is semi-linear, and
// the exponential integrator solves its linear part (x / sigma) exactly, so the error estimate
// measures only how D varies along the step; in lambda the steps a tolerance asks for are
// roughly even from sigma_max to sigma_min, where in sigma they span four orders of magnitude.
// The error norm and controller follow Hairer, Norsett and Wanner (Solving ODEs I, II.4,
// eq. 4.11 and 4.13) as "Gotta Go Fast" (Jolicoeur-Martineau et al. 2021, Algorithm 1) applies
// them to diffusion: per image, err = RMS((x_hi - x_lo) / (atol + rtol max(|x_lo|, |x_prev|)))
// with each state taken in VP scale (below); accept when err <= 1; the next step is h times a
// PI controller's factor (below), clamped to [0.2, 5], and clipped so the last step lands on
// sigma_min. The defaults rtol 0.05, atol 0.0078 and h_init 0.05 are k-diffusion's
// sample_dpm_adaptive's.
// Per-image acceptance: every image keeps its own sigma and h; each iteration evaluates all
// unfinished images once at their own sigmas (the denoiser's per-row path). Images that reach
// sigma_min take the final step to 0 (x = D(x; sigma_min), one evaluation, as the fixed-step
// samplers' last step) in the next iteration's shared evaluation and leave the batch: their
// rows are no longer gathered, so later evaluations cost only the unfinished images.
AdaptiveResult sample_adaptive(const DenoiseFn& denoise, mx::array x, double sigma_max, double sigma_min,
                               const AdaptiveOptions& o) {
  if (!denoise.rows_fn) throw std::invalid_argument("the adaptive sampler needs a per-image denoiser (rows_fn)");
  if (!(o.rtol > 0) || !(o.atol > 0)) throw std::invalid_argument("adaptive: rtol and atol must be > 0");
  if (!(sigma_min > 0) || !(sigma_max > sigma_min)) {
    throw std::invalid_argument("adaptive: needs 0 < sigma_min < sigma_max");
  }
  const int n = x.shape(0);
  const double t_end = -std::log(sigma_min);
  AdaptiveResult r{x, std::vector<int>(n, 0), std::vector<int>(n, 0), 0, 0, 0};
  std::vector<std::optional<mx::array>> done(n);
  // State of the unfinished images, aligned with the rows of x.
  std::vector<int> rows(n);
  std::vector<double> sigma(n, sigma_max), h(n, o.h_init);
  std::vector<char> at_end(n, 0);  // reached sigma_min: the final step to 0 is next
  std::vector<int> attempts(n, 0);
  std::vector<double> err_prev(n, 1.0);  // the last accepted step's error (PI controller)
  for (int i = 0; i < n; ++i) rows[i] = i;
  for (int i = 0; i < n; ++i) h[i] = std::min(h[i], t_end + std::log(sigma_max));
  int finished = 0;
  auto D = [&](const mx::array& xi, const std::vector<double>& s, const std::vector<int>& which) {
    std::vector<float> sf(s.begin(), s.end());
    ++r.calls;
    r.rows_evaluated += static_cast<long>(which.size());
    for (int row : which) r.nfe_per_image[row] += denoise.evals_per_call;
    return denoise.rows_fn(xi, mx::array(sf.data(), {static_cast<int>(sf.size())}, mx::float32),
                           mx::array(which.data(), {static_cast<int>(which.size())}, mx::int32));
  };
  while (!rows.empty()) {
    const int k = static_cast<int>(rows.size());
    auto d0 = D(x, sigma, rows);
    // Split into the rows that finish now and those that step.
    std::vector<int> step_idx, end_idx;
    for (int i = 0; i < k; ++i) (at_end[i] ? end_idx : step_idx).push_back(i);
    if (!end_idx.empty()) {
      auto finals = take_rows(d0, end_idx);
      mx::eval(finals);
      for (std::size_t j = 0; j < end_idx.size(); ++j) {
        const int row = rows[end_idx[j]];
        done[row] = take_rows(finals, {static_cast<int>(j)});
        r.steps_per_image[row] += 1;
        ++finished;
      }
    }
    if (step_idx.empty()) {
      rows.clear();
      if (o.callback) o.callback(finished, n);
      break;
    }
    auto gather = [&](auto& v) {
      std::remove_reference_t<decltype(v)> out;
      for (int i : step_idx) out.push_back(v[i]);
      v = std::move(out);
    };
    if (!end_idx.empty()) {
      x = take_rows(x, step_idx);
      d0 = take_rows(d0, step_idx);
      gather(rows);
      gather(sigma);
      gather(h);
      gather(at_end);
      gather(attempts);
      gather(err_prev);
    }
    const int m = static_cast<int>(rows.size());
    std::vector<float> a_next(m), b_next(m), a_mid(m), b_mid(m);
    std::vector<double> s_next(m), s_mid(m);
    for (int i = 0; i < m; ++i) {
      s_next[i] = sigma[i] * std::exp(-h[i]);
      s_mid[i] = sigma[i] * std::exp(-h[i] / 2);
      a_next[i] = static_cast<float>(s_next[i] / sigma[i]);
      b_next[i] = static_cast<float>(std::expm1(-h[i]));
      a_mid[i] = static_cast<float>(s_mid[i] / sigma[i]);
      b_mid[i] = static_cast<float>(std::expm1(-h[i] / 2));
    }
    auto A = per_row(a_next, x), B = per_row(b_next, x);
    auto x_lo = mx::subtract(mx::multiply(A, x), mx::multiply(B, d0));
    auto u = mx::subtract(mx::multiply(per_row(a_mid, x), x), mx::multiply(per_row(b_mid, x), d0));
    auto d1 = D(u, s_mid, rows);
    auto x_hi = mx::subtract(mx::multiply(A, x), mx::multiply(B, d1));
    // The norm is taken on the variance-preserving state x / sqrt(1 + sigma^2) (the VP process
    // "Gotta Go Fast" integrates, x_t = alpha x0 + sigma_vp eps), whose scale is that of the
    // data at every noise level: in sigma space |x| ~ sigma, and a tolerance relative to it
    // would let the high-noise steps carry errors of order rtol * sigma_max.
    std::vector<float> vp_next(m), vp(m);
    for (int i = 0; i < m; ++i) {
      vp_next[i] = static_cast<float>(1.0 / std::sqrt(1.0 + s_next[i] * s_next[i]));
      vp[i] = static_cast<float>(1.0 / std::sqrt(1.0 + sigma[i] * sigma[i]));
    }
    auto VPn = per_row(vp_next, x);
    auto scale_ref = mx::maximum(mx::abs(mx::multiply(VPn, x_lo)), mx::abs(mx::multiply(per_row(vp, x), x)));
    auto tol = mx::add(mx::array(static_cast<float>(o.atol)), mx::multiply(mx::array(static_cast<float>(o.rtol)), scale_ref));
    auto ratio = mx::reshape(mx::divide(mx::multiply(VPn, mx::subtract(x_hi, x_lo)), tol), {m, -1});
    auto err = mx::sqrt(mx::mean(mx::square(ratio), 1));
    mx::eval({x_hi, err});
    std::vector<float> accept(m);
    const float* e = err.data<float>();
    for (int i = 0; i < m; ++i) {
      const int row = rows[i];
      if (++attempts[i] > o.max_attempts) {
        throw std::runtime_error("adaptive: image " + std::to_string(row) + " took more than " +
                                 std::to_string(o.max_attempts) + " step attempts (sigma " +
                                 std::to_string(sigma[i]) + "); raise rtol/atol");
      }
      const double ei = e[i];
      if (!std::isfinite(ei) && h[i] <= o.h_min) {
        throw std::runtime_error("adaptive: image " + std::to_string(row) +
                                 "'s error estimate is not finite even at the smallest step (sigma " +
                                 std::to_string(sigma[i]) + "): the denoiser returned NaN or infinity");
      }
      // At the smallest step the error bound gives way (the step is taken however large its
      // error), but never to a non-finite error: a NaN or infinite estimate is rejected, the
      // step shrinks, and at the smallest step the check above names the image.
      const bool ok = std::isfinite(ei) && (ei <= 1.0 || h[i] <= o.h_min);
      // After an accepted step the PI controller, after a rejected one the I controller and
      // no growth (Hairer and Wanner, Solving ODEs II, IV.2, eq. 2.43c, beta1 = 0.7 / k,
      // beta2 = 0.4 / k with k = 2 for the O(h^2) estimate). On the exact-Gaussian check the
      // I controller alone rejected about 3 steps per image.
      const double e_safe = std::max(ei, 1e-10);
      double factor = !std::isfinite(ei) ? 0.2
                      : ok ? 0.9 * std::pow(e_safe, -0.35) * std::pow(err_prev[i], 0.2)
                           : std::min(1.0, 0.9 * std::pow(e_safe, -0.5));
      factor = std::clamp(factor, 0.2, 5.0);
      if (ok && std::isfinite(ei)) err_prev[i] = std::max(ei, 1e-4);
      accept[i] = ok ? 1.0f : 0.0f;
      double t = -std::log(sigma[i]);
      if (ok) {
        t += h[i];
        sigma[i] = s_next[i];
        r.steps_per_image[row] += 1;
      } else {
        ++r.rejected;
      }
      const double left = t_end - t;
      if (ok && left <= 1e-9 * std::max(1.0, std::abs(t_end))) {
        at_end[i] = 1;
        sigma[i] = sigma_min;
      } else {
        h[i] = std::max(std::min(h[i] * factor, left), std::min(o.h_min, left));
      }
    }
    x = mx::where(mx::greater(per_row(accept, x), mx::array(0.5f)), x_hi, x);
    mx::eval(x);
    if (o.callback) o.callback(finished, n);
  }
  std::vector<mx::array> out;
  for (auto& d : done) out.push_back(*d);
  r.x = mx::concatenate(out, 0);
  mx::eval(r.x);
  return r;
}

SampleResult sample(SamplerKind kind, const DenoiseFn& denoise, mx::array x, const std::vector<double>& sigmas,
                    const SamplerOptions& options) {
  if (kind == SamplerKind::Adaptive) {
    throw std::invalid_argument("the adaptive sampler chooses its own sigmas: call sample_adaptive");
  }
  if (sigmas.size() < 2 || sigmas.back() != 0.0) {
    throw std::invalid_argument("sigmas must hold at least one noise level and end in 0");
  }
  const int steps = static_cast<int>(sigmas.size()) - 1;
  int calls = 0;
  auto D = [&](const mx::array& xi, double s) {
    ++calls;
    return denoise.fn(xi, static_cast<float>(s));
  };
  StepNoiseFn noise = options.noise;
  if (!noise && options.key) noise = key_noise(*options.key);
  std::optional<mx::array> old_denoised;
  for (int i = 0; i < steps; ++i) {
    const double s = sigmas[i], s_next = sigmas[i + 1];
    auto denoised = D(x, s);
    switch (kind) {
      case SamplerKind::Ddpm:
        x = ancestral_step(x, denoised, s, s_next, 1.0, i, noise);
        break;
      case SamplerKind::Ddim:
        x = ancestral_step(x, denoised, s, s_next, options.eta, i, noise);
        break;
      case SamplerKind::Euler:
        // Karras et al. 2022, Algorithm 1 without the correction: the DDIM step.
        x = ddim_step(x, denoised, f32(s), f32(s_next));
        break;
      case SamplerKind::Heun:
        // Karras et al. 2022, Algorithm 1: Euler, then the trapezoidal correction unless
        // the step lands on sigma = 0.
        if (s_next == 0.0) {
          x = ddim_step(x, denoised, f32(s), f32(s_next));
        } else {
          x = heun_step(x, denoised, f32(s), f32(s_next), [&](const mx::array& xe) { return D(xe, s_next); });
        }
        break;
      case SamplerKind::Consistency:
        // Song et al. 2023, Algorithm 1: x0 = f(x, sigma_i); re-noise to the next sigma as
        // x0 + sqrt(tau^2 - sigma_min^2) z, unless it is the last (sigma = 0).
        if (s_next == 0.0) {
          x = denoised;
        } else {
          if (!noise) throw std::invalid_argument("the consistency sampler needs a noise key or given noise");
          const double scale_up = std::sqrt(std::max(0.0, s_next * s_next - options.sigma_min * options.sigma_min));
          x = mx::add(denoised, scale(noise(i, x.shape(), x.dtype()), scale_up));
        }
        break;
      case SamplerKind::Adaptive:
        break;  // rejected above
      case SamplerKind::DpmSolver2:
        // The adaptive sampler's second-order method at fixed steps (its comparison at equal
        // solver): DPM-Solver++(2S) with r = 1/2, the midpoint in lambda (see sample_adaptive).
        // The last step, to sigma = 0, is D itself, as for DPM-Solver++(2M).
        if (s_next == 0.0) {
          x = denoised;
        } else {
          const double h = std::log(s / s_next);
          const double s_mid = s * std::exp(-h / 2);
          auto u = mx::subtract(scale(x, s_mid / s), scale(denoised, std::expm1(-h / 2)));
          x = mx::subtract(scale(x, s_next / s), scale(D(u, s_mid), std::expm1(-h)));
        }
        break;
      case SamplerKind::DpmPp2m: {
        // DPM-Solver++(2M), Lu et al. 2022, Algorithm 2, in k-diffusion's sigma form with
        // t = -log(sigma): a second-order multistep update on the data prediction.
        if (s_next == 0.0) {
          x = denoised;
        } else {
          const double t = -std::log(s), t_next = -std::log(s_next), h = t_next - t;
          mx::array d = denoised;
          if (old_denoised) {
            const double h_last = t - (-std::log(sigmas[i - 1]));
            const double r = h_last / h;
            d = mx::subtract(scale(denoised, 1.0 + 1.0 / (2.0 * r)), scale(*old_denoised, 1.0 / (2.0 * r)));
          }
          x = mx::subtract(scale(x, s_next / s), scale(d, std::expm1(-h)));
        }
        old_denoised = denoised;
        break;
      }
    }
    // One evaluation per step keeps the graph bounded.
    std::vector<mx::array> outs{x};
    if (old_denoised) outs.push_back(*old_denoised);
    mx::eval(outs);
    if (options.callback) options.callback(i, steps, s_next);
  }
  return {x, steps, calls * denoise.evals_per_call};
}

}  // namespace anneal
