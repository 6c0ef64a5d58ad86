// Progressive distillation (Salimans & Ho 2022, Algorithm 2): the student learns to take in
// one DDIM step what the teacher takes in two. In the engine's sigma space, with x_s the
// teacher's result after two deterministic DDIM steps from x_t via sigma_mid, and r =
// sigma_s / sigma_t, the student's x-target is x~ = (x_s - r x_t) / (1 - r): the x0 whose
// single DDIM step from x_t lands on x_s. On the last step (sigma_s = 0) r = 0 and x~ is the
// teacher's x-prediction at sigma_mid, as in google-research diffusion_distillation (dpm.py).
// No guidance: the teacher is evaluated at the example's (possibly dropped) label only.
#pragma once

#include <vector>

#include "engine/objective.h"

namespace anneal {

// Per-example weight on the x-space squared error, SNR = 1 / sigma_t^2. TruncatedSnr:
// max(SNR, 1) (the paper's "truncated SNR"); SnrPlusOne: SNR + 1 (the v-loss).
enum class DistillWeighting { TruncatedSnr, SnrPlusOne };

DistillWeighting parse_distill_weighting(const std::string& name);

struct ProgressiveOptions {
  // The teacher's grid: 2N + 1 sigmas, strictly decreasing, ending in 0. The student takes N
  // steps, on every second point.
  std::vector<double> sigmas;
  DistillWeighting weighting = DistillWeighting::TruncatedSnr;
  float cfg_dropout = 0.1f;  // as in training; teacher and student see the same label
  mx::Dtype compute_dtype = mx::float32;
};

struct ProgressiveTarget {
  mx::array x_s;     // the teacher's two DDIM steps from x_t
  mx::array target;  // the student's x-target x~
};

// The teacher's two DDIM steps and the student's x-target. `teacher` is D in sigma space;
// sigmas are [B] (sigma_t > sigma_mid > sigma_s >= 0). Pure: no eval inside.
ProgressiveTarget progressive_target(const Denoiser& teacher, const mx::array& x_t, const mx::array& sigma_t,
                                     const mx::array& sigma_mid, const mx::array& sigma_s,
                                     const std::optional<mx::array>& labels);

// One progressive-distillation loss evaluation, term by term (the objective's loss is
// mean(weight * per_example)): per example the student step `index` i ~ U[0, N) (drawn with
// key_index), sigma_t = grid[2i], the noise z (key_noise) with x_t = x0 + sigma_t z, the
// x-target, the weight and the mean squared x-space error of the student's D(x_t, sigma_t).
// Pure: no eval inside.
struct ProgressiveTerms {
  mx::array index, sigma_t, noise, target, weight, per_example;
};
ProgressiveTerms progressive_terms(const Denoiser& teacher, const Denoiser& student, const mx::array& x0,
                                   const std::optional<mx::array>& labels, const std::vector<double>& grid,
                                   DistillWeighting weighting, const mx::array& key_index,
                                   const mx::array& key_noise, const BatchRows& rows = {});

// Throws std::invalid_argument for a grid that is not 2N + 1 strictly decreasing sigmas
// ending in 0 inside the teacher's range, an eps (or consistency) student, or a teacher whose
// images, channels or classes differ from the student's.
class ProgressiveObjective : public Objective {
 public:
  ProgressiveObjective(FrozenModel teacher, UNetConfig student_unet, Preconditioning student_prec,
                       ProgressiveOptions options);
  std::string name() const override { return "progressive"; }
  std::vector<mx::array> frozen() const override { return flatten(teacher_.params); }
  std::map<std::string, std::string> identity() const override { return identity_; }
  mx::array loss(const Params& student, const std::vector<mx::array>& frozen, const TrainBatch& batch,
                 const mx::array& key) const override;
  int student_steps() const { return static_cast<int>(options_.sigmas.size() - 1) / 2; }

 private:
  FrozenModel teacher_;
  UNetConfig student_unet_;
  Preconditioning student_prec_;
  ProgressiveOptions options_;
  std::map<std::string, std::string> identity_;
};

}  // namespace anneal
