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

enum class SamplerKind { Ddpm, Ddim, Euler, Heun, DpmPp2m, Consistency, Adaptive, DpmSolver2 };

SamplerKind parse_sampler(const std::string& name);
// Network evaluations per step for a sampler (Heun and DPM-Solver-2: 2 except the last step). Not defined for
// the adaptive sampler, whose count depends on the content (AdaptiveResult reports it).
int sampler_nfe(SamplerKind kind, int steps);

// D(x; sigma) for a batch at one noise level. `evals_per_call` counts network evaluations
// per call (2 with classifier-free guidance, which runs conditional and unconditional).
struct DenoiseFn {
  std::function<mx::array(const mx::array& x, float sigma)> fn;
  // The per-image path (the adaptive sampler): `x` holds the rows `rows` (int32 [k], indices
  // into the batch the sampler started with, so a wrapper can pick each row's conditioning)
  // at their own noise levels `sigma` (float32 [k]). The fixed-step samplers use `fn` only.
  std::function<mx::array(const mx::array& x, const mx::array& sigma, const mx::array& rows)> rows_fn;
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

// The error-controlled adaptive solver of the probability-flow ODE, per image. See samplers.cpp
// (sample_adaptive) for the method and its sources.
struct AdaptiveOptions {
  double rtol = 0.05;     // relative tolerance on each pixel
  double atol = 0.0078;   // absolute tolerance, in data units (about one uint8 level of [-1, 1])
  double h_init = 0.05;   // first step, in lambda = -log(sigma)
  double h_min = 1e-4;    // a step this small is accepted whatever its error (termination)
  int max_attempts = 2000;  // per image: more step attempts than this is an error
  // Called after each batched iteration with (images finished, images in all).
  std::function<void(int, int)> callback;
};

struct AdaptiveResult {
  mx::array x;
  std::vector<int> nfe_per_image;  // network evaluations spent on each image, counting guidance
  std::vector<int> steps_per_image;  // accepted steps of each image (the final step to 0 included)
  int calls = 0;            // batched denoiser calls
  long rows_evaluated = 0;  // image rows handed to the denoiser over all calls
  int rejected = 0;         // rejected step attempts, summed over images
};

// Integrates each row of x (noise at sigma_max) from sigma_max down to sigma_min with its own
// step size, then takes the final step to sigma = 0, x = D(x; sigma_min); finished rows leave
// the batch. Needs denoise.rows_fn.
AdaptiveResult sample_adaptive(const DenoiseFn& denoise, mx::array x, double sigma_max, double sigma_min,
                               const AdaptiveOptions& options);

SampleResult sample(SamplerKind kind, const DenoiseFn& denoise, mx::array x,
                    const std::vector<double>& sigmas, const SamplerOptions& options);

}  // namespace anneal
