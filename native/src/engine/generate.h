// Sampling a trained model: noise, a sigma schedule, a sampler, classifier-free guidance.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/denoiser.h"
#include "engine/samplers.h"
#include "engine/schedule_learn.h"
#include "engine/unet.h"

namespace anneal {

struct ScheduleSpec {
  std::string kind = "default";  // default | uniform | karras | exponential | explicit
  std::vector<double> sigmas;    // explicit only
  double rho = 7.0;              // karras
  // > 0: start the schedule at this sigma instead of the model's largest (karras and
  // exponential run from it down to the smallest; uniform-in-t starts at the largest
  // timestep whose sigma is <= it). 0: the model's largest.
  double sigma_max = 0;
};

// The sigma sequence for `steps` steps; "default" is uniform-in-t for DDPM/DDIM (as in their
// papers) and Karras for the ODE solvers.
std::vector<double> make_sigmas(const Denoiser& d, SamplerKind sampler, int steps, const ScheduleSpec& s);

struct GenerateSpec {
  SamplerKind sampler = SamplerKind::DpmPp2m;
  int steps = 20;
  ScheduleSpec schedule;
  int n = 16;
  // The images' sides (0: the config's sample_size). A multi-resolution model samples each of
  // its aspect buckets this way; sides must be multiples of 2^(levels-1), and a VP schedule
  // with a resolution shift is shifted at sqrt(height x width) as its training batches were.
  int height = 0;
  int width = 0;
  std::uint64_t seed = 0;
  int class_label = -1;   // -1: unconditional, or cycle through the classes of a conditional model
  double guidance = 1.0;  // classifier-free guidance weight; 1 = conditional only
  double eta = 0.0;       // DDIM
  int chunk = 64;         // images per batch; keys are per chunk, so output is independent of n
  // The index of this call's first chunk in a longer run: chunk c here draws the noise and
  // labels of chunk first_chunk + c of that run, so a run sampled a chunk at a time (and
  // resumed after a kill) gives the images one call would.
  int first_chunk = 0;
  // Clamp each denoised estimate to the data range [-1, 1], as DDPM's and DDIM's reference
  // samplers do (diffusers' clip_sample): early, high-noise estimates otherwise overshoot.
  bool clip_denoised = true;
  // The U-Net's compute dtype (weights cast once, activations in it, output back to float32;
  // the sampler's own arithmetic stays float32). bfloat16 halves the weights' bytes; whether it
  // is faster depends on the backend, which is why `anneal plan` measures both.
  mx::Dtype dtype = mx::float32;
  // Given noise instead of the seed's, e.g. to compare with another implementation on the
  // same draws: `noise` is the initial unit-normal noise [n, H, W, C] (x at sigmas[0] is
  // noise * sigmas[0]); `step_noise` [steps, n, H, W, C] is the unit-normal noise a
  // stochastic sampler injects at each step (entry i at step i; unused entries are ignored).
  // Either may be given without the other; what is not given comes from the seed.
  std::optional<mx::array> noise;
  std::optional<mx::array> step_noise;
  // Return the noise used (given or drawn) in GenerateResult, in the layout above; steps
  // that drew none hold zeros. Passing it back reproduces the images exactly.
  bool record_noise = false;
  // The adaptive sampler's tolerances (AdaptiveOptions); `steps` and the schedule's kind are
  // not used by it (it starts at the schedule's top, sigma_max when given).
  double rtol = AdaptiveOptions{}.rtol;
  double atol = AdaptiveOptions{}.atol;
  // How the U-Net's softmax attention executes (choose_attention picks it from the budget).
  AttentionExec attention;
};

struct GenerateResult {
  mx::array images;  // float32 [n, H, W, C] in [-1, 1]
  int steps = 0;
  int nfe = 0;  // per image batch, counting guidance
  std::optional<mx::array> noise, step_noise;  // with GenerateSpec::record_noise
  // The adaptive sampler: evaluations per image (counting guidance), batched denoiser calls
  // and image rows evaluated over all chunks (finished images leave the batch, so rows
  // evaluated is the sum of nfe_per_image over evals per call, not calls * n). `steps` is
  // then the most accepted steps of any image and `nfe` the most evaluations of any image.
  std::vector<int> nfe_per_image;
  int calls = 0;
  long rows_evaluated = 0;
  int rejected = 0;  // adaptive: step attempts rejected, summed over images
};

GenerateResult generate(const Params& params, const UNetConfig& cfg, const Preconditioning& prec,
                        const GenerateSpec& spec, const std::function<void(int, int)>& on_step = {});

// D for a batch of b images as sampling uses it: class labels (or none), classifier-free
// guidance (weight != 1 with labels: conditional and unconditional in one batch), and the
// clamp of each denoised estimate to [-1, 1]. `d` must outlive the result.
DenoiseFn model_denoise_fn(const Denoiser& d, const std::optional<mx::array>& labels, int b, int classes,
                           double guidance, bool clip_denoised);

// Learning a schedule for a trained model (learn_schedule on its denoiser as `generate` runs it).
struct ModelScheduleSpec {
  SamplerKind sampler = SamplerKind::DpmPp2m;
  int nfe = 10;  // network evaluations per image without guidance; steps via steps_for_nfe
  int n = 64;    // calibration batch, and the held-out batch's size
  std::uint64_t seed = 0;          // calibration noise: the first chunk `generate` draws with this seed
  std::uint64_t heldout_seed = 1;  // held-out noise, likewise
  int class_label = -1;            // as GenerateSpec
  double guidance = 1.0;
  bool clip_denoised = true;
  ScheduleSpec initial;  // the baseline and fallback start ("default" as sampling's default)
  // Other schedules to score beside it: kinds make_sigmas builds at the same steps (no
  // "explicit"), and explicit lists (each of steps + 1 sigmas ending in 0).
  std::vector<std::string> compare_kinds;
  std::vector<std::vector<double>> compare_sigmas;
  SamplerKind reference = SamplerKind::Heun;
  int reference_steps = 100;
  int sweeps = 6;
  // As LearnScheduleSpec's: a reference record and a checkpoint from earlier sittings.
  std::shared_ptr<const LearnReference> known_reference;
  std::shared_ptr<const LearnCheckpoint> resume;
};

LearnScheduleResult learn_model_schedule(const Params& params, const UNetConfig& cfg, const Preconditioning& prec,
                                         const ModelScheduleSpec& spec, const LearnProgressFn& progress = {},
                                         const LearnCancelFn& cancelled = {});

// Closed-form denoiser of Gaussian data N(mean, U diag(lambda) U^T):
// D(x; sigma) = mean + U diag(lambda / (lambda + sigma^2)) U^T (x - mean). With it every
// deterministic sampler has an exact answer to be checked against.
// Its `rows_fn` takes a noise level per row. `eigvals` may also be [n, d], the eigenvalues of
// each row of the batch (rows of data N(mean, U diag(eigvals[i]) U^T): conditional data whose
// classes differ in scale); `fn` then needs all n rows.
DenoiseFn gaussian_denoiser(const mx::array& mean, const mx::array& eigvecs, const mx::array& eigvals);

// The same exact denoiser as a network of a VP parameterization (eps, v or x0) would be: it
// is handed what a U-Net is handed, (c_in x, t), recovers sigma from the timestep with the
// table's own inverse (t_to_sigma) and x from c_in x, and returns the eps, v or x0 that
// Gaussian data implies, by their definitions (eps = (x - D) / sigma; v = alpha eps - s x0
// with alpha = 1 / sqrt(1 + sigma^2), s = sigma alpha; x0 = D), not through the wrapper's
// c_skip and c_out. Wrapped by `Denoiser`, it must reproduce `gaussian_denoiser`: the test of
// the wrapper's scalings and of its sigma -> timestep map. Rows of x are [n, 1, 1, d].
NetworkFn gaussian_network(Parameterization kind, const DiscreteSigmas& table, const mx::array& mean,
                           const mx::array& eigvecs, const mx::array& eigvals);

}  // namespace anneal
