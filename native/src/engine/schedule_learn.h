// Learned sampling schedules: for a denoiser, a deterministic sampler and K steps, the K + 1
// sigmas (the first fixed, the last 0) whose sampler endpoint best reproduces a high-NFE
// reference trajectory from the same initial noise, on a calibration batch, scored on a
// held-out batch too (the problem Align Your Steps, GITS and DDSS solve; the method is in
// schedule_learn.cpp).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/samplers.h"

namespace anneal {

// True for the samplers a schedule can be learned for: those whose endpoint is a
// deterministic function of the initial noise (DDIM at eta = 0, Euler, Heun, DPM-Solver++(2M)).
bool sampler_is_deterministic(SamplerKind kind);
// The steps a sampler takes for a budget of `nfe` network evaluations; throws
// std::invalid_argument naming the sampler when no step count spends exactly `nfe` (Heun
// spends 2 steps - 1) or when nfe < 1.
int steps_for_nfe(SamplerKind kind, int nfe);

// What the reference runs leave for learning: the DP's jump costs on the reference grid and
// both batches' reference endpoints. They depend on the denoiser, the noise and the reference
// alone, not on the sampler or its steps, so one record serves every schedule learned against
// it (a table of samplers and NFEs draws the references once).
struct LearnReference {
  // The reference's sigmas (Karras from the start sigma to sigma_min, then 0): a record is
  // only used by a learn on the same grid.
  std::vector<double> grid;
  // N x (N + 1) for N reference steps, row-major: cost[i * (N + 1) + j] of a one-step DDIM jump
  // from grid point i to j, measured against the reference at j (infinite for j <= i).
  std::vector<double> cost;
  std::vector<float> train_end, heldout_end;  // x at sigma = 0, the noise's shape
};

// Where the coordinate descent stands at the start of coordinate k of a sweep: with the
// reference record, enough to continue it in another process to the same result.
struct LearnCheckpoint {
  std::vector<double> dp_sigmas, best;
  double baseline_train = 0, dp_train = 0, best_error = 0;
  int sweep = 0, k = 1;
  double move = 0;          // the sweep's trial move in log sigma
  int done = 0;             // trials counted by progress so far
  int evaluations = 0;      // sampler runs on the training batch so far
};

struct LearnScheduleSpec {
  SamplerKind sampler = SamplerKind::Euler;
  // The schedule to improve on (the baseline): steps + 1 sigmas ending in 0. Its first sigma is
  // the start sigma, which learning keeps.
  std::vector<double> initial;
  // The smallest positive sigma a learned schedule may use (the model's sigma_min).
  double sigma_min = 0.002;
  // The reference: a single-step deterministic solver (heun, euler or ddim) on Karras rho = 7
  // sigmas from the start sigma down to sigma_min, then 0; its grid is also the DP's grid.
  SamplerKind reference = SamplerKind::Heun;
  int reference_steps = 100;
  // Coordinate-descent sweeps over the interior log-sigmas, each halving the trial move.
  int sweeps = 6;
  double initial_move = 0.5;  // first trial move in log sigma
  // Other schedules (each ending in 0) to score on the same batches, e.g. the hand-crafted ones
  // at the same step count, for a table beside the learned one.
  std::vector<std::vector<double>> compare;
  // The reference runs' record from an earlier learn on the same denoiser, noise and reference:
  // they are not run again.
  std::shared_ptr<const LearnReference> known_reference;
  // A checkpoint of this same learn (spec and reference): the descent continues from it.
  std::shared_ptr<const LearnCheckpoint> resume;
};

struct LearnScheduleProgress {
  std::string phase;  // "reference" | "grid" | "refine" | "score"
  int done = 0, total = 0;
  double error = 0;  // the best training error so far (refine), else 0
  // Once, when the reference runs end: their record, for later learns to reuse.
  std::shared_ptr<const LearnReference> reference;
  // At the start of every coordinate of the descent: where it stands, to resume from.
  std::shared_ptr<const LearnCheckpoint> checkpoint;
};

struct LearnScheduleResult {
  std::vector<double> sigmas;     // learned, steps + 1, ending in 0
  std::vector<double> dp_sigmas;  // the dynamic-programming initialization
  // Mean squared error per element between the sampler's endpoint and the reference's.
  double baseline_train = 0, baseline_heldout = 0;
  double learned_train = 0, learned_heldout = 0;
  double dp_train = 0;  // the DP schedule's training error (learned_train never exceeds it)
  // Per `compare` entry: {train error, held-out error}.
  std::vector<std::pair<double, double>> compare;
  int evaluations = 0;  // end-to-end sampler runs on the training batch during learning
  int nfe = 0;          // the sampler's network evaluations per image for this schedule
  bool cancelled = false;
  bool reference_reused = false;  // spec.known_reference was used: no reference runs
  bool resumed = false;           // the descent continued from spec.resume
};

using LearnProgressFn = std::function<void(const LearnScheduleProgress&)>;
// Polled before each reference step and between sampler runs: true stops learning. During
// refinement the best schedule found so far is kept (scored as usual, with `cancelled` set);
// during the reference runs nothing has been learned yet, so the result is the baseline
// schedule, unscored (all errors 0), with `cancelled` set.
using LearnCancelFn = std::function<bool()>;

// `train_noise` and `heldout_noise` are unit-normal initial noise, batch first; x at the start
// sigma is noise * sigma. `denoise` must accept a batch of either's size. Throws
// std::invalid_argument when the sampler's steps exceed spec.reference_steps.
LearnScheduleResult learn_schedule(const DenoiseFn& denoise, const mx::array& train_noise,
                                   const mx::array& heldout_noise, const LearnScheduleSpec& spec,
                                   const LearnProgressFn& progress = {}, const LearnCancelFn& cancelled = {});

// Mean squared error per element between the endpoints of `sampler` on `sigmas` and of
// `reference` on its own sigmas, from the same noise (both runs included).
double schedule_error(const DenoiseFn& denoise, const mx::array& noise, SamplerKind sampler,
                      const std::vector<double>& sigmas, SamplerKind reference,
                      const std::vector<double>& reference_sigmas);

}  // namespace anneal
