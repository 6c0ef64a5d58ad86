#include "engine/samplers.h"

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
  throw std::invalid_argument("unknown sampler \"" + name + "\" (ddpm, ddim, euler, heun, dpmpp-2m, consistency)");
}

int sampler_nfe(SamplerKind kind, int steps) { return kind == SamplerKind::Heun ? 2 * steps - 1 : steps; }

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

SampleResult sample(SamplerKind kind, const DenoiseFn& denoise, mx::array x, const std::vector<double>& sigmas,
                    const SamplerOptions& options) {
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
