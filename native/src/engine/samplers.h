// Samplers share one signature: (denoiser, x, sigmas, options) -> result. They are
// stateless functions in sigma space (k-diffusion's formulation): x is noised as
// x = x0 + sigma * noise, and x at sigmas[0] is noise * sigmas[0].
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/params.h"

namespace anneal {

enum class SamplerKind { Ddpm, Ddim, Euler, Heun, DpmPp2m, Consistency };

SamplerKind parse_sampler(const std::string& name);
// Network evaluations per step for a sampler (Heun: 2 except the last step).
int sampler_nfe(SamplerKind kind, int steps);

// D(x; sigma) for a batch at one noise level. `evals_per_call` counts network evaluations
// per call (2 with classifier-free guidance, which runs conditional and unconditional).
struct DenoiseFn {
  std::function<mx::array(const mx::array& x, float sigma)> fn;
  int evals_per_call = 1;
};

// The unit-normal noise a stochastic sampler injects at step `step`, shaped like x.
using StepNoiseFn = std::function<mx::array(int step, const mx::Shape& shape, mx::Dtype dtype)>;

// Draws from `key`, splitting it once per draw in the order a sampler asks: the noise a
// sampler draws from SamplerOptions::key.
StepNoiseFn key_noise(mx::array key);

struct SamplerOptions {
  // Called after each step with (step index, total steps, sigma reached).
  std::function<void(int, int, double)> callback;
  std::optional<mx::array> key;  // stochastic samplers (DDPM, DDIM with eta > 0)
  StepNoiseFn noise;             // given per-step noise; when set, `key` is not used
  double eta = 0.0;              // DDIM's eta; DDPM is eta = 1
  // The consistency sampler: the boundary sigma of the consistency function f, where it is
  // the identity. Each re-noising step adds noise of scale sqrt(tau^2 - sigma_min^2).
  double sigma_min = 0.0;
};

struct SampleResult {
  mx::array x;
  int steps = 0;
  int nfe = 0;  // network evaluations, counting guidance
};

// The steps every sampler and every distillation objective share, written once. They are pure
// (no eval inside), so an objective can call them inside a compiled training step. Sigmas are
// arrays broadcastable against x: a scalar for a sampler, [B, 1, 1, 1] for an objective.

// The deterministic DDIM step in sigma space, x_s = x0_hat + (sigma_s / sigma_t)(x_t - x0_hat)
// (Song et al. 2021, eq. 12 with eta = 0; the same update as Euler in k-diffusion's
// formulation, Karras et al. 2022). sigma_s = 0 gives x0_hat exactly.
mx::array ddim_step(const mx::array& x, const mx::array& denoised, const mx::array& sigma,
                    const mx::array& sigma_next);

// Heun's step from sigma to sigma_next > 0 (Karras et al. 2022, Algorithm 1, lines 5-8): an
// Euler step, then the trapezoidal correction with D evaluated at sigma_next by
// `denoise_next`. `denoised` is D(x; sigma).
mx::array heun_step(const mx::array& x, const mx::array& denoised, const mx::array& sigma, const mx::array& sigma_next,
                    const std::function<mx::array(const mx::array&)>& denoise_next);

SampleResult sample(SamplerKind kind, const DenoiseFn& denoise, mx::array x,
                    const std::vector<double>& sigmas, const SamplerOptions& options);

}  // namespace anneal
