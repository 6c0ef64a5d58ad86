// Output-level knowledge distillation into a student of another architecture (BK-SDM, Kim et
// al. 2023, "Distillation-based pretraining": L_task + lambda_OutKD L_OutKD, their feature
// term L_FeatKD left out, since it needs the two U-Nets to share block boundaries). The student
// (narrower, fewer layers or levels, attention elsewhere) takes the teacher's images, labels
// and VP table. Per step, the draws of the denoising objective (denoising_draws); then
//   task = the denoising loss (network_mse against the data's network target),
//   kd   = network_mse against stop_gradient(network_target(x_t, D_teacher(x_t, sigma), sigma)),
// the teacher's denoised estimate at the same x_t, sigma and (possibly dropped) labels,
// expressed in the student's network space: BK-SDM's ||eps_T - eps_S||^2 for an eps pair, and
// for any eps / v / x0 / EDM pair a term in the task's units with the task's per-example
// weighting. loss = task + output_weight kd. No guidance; the teacher runs without dropout.
// An EDM student draws log-normal sigmas, some outside a VP teacher's table: there the
// teacher's timestep is its table's end (its timestep map clamps), its scalings still exact.
#pragma once

#include "engine/objective.h"

namespace anneal {

struct OutputDistillationOptions {
  // The task term's draws, loss weighting and compute dtype; the kd term shares all of them.
  DenoisingOptions denoising;
  double output_weight = 1.0;  // lambda_OutKD (BK-SDM uses 1); finite, >= 0
};

// Throws std::invalid_argument for a consistency student or teacher, a teacher whose images,
// channels or classes differ from the student's, or one on another VP schedule, an output
// weight that is negative or not finite, or loss weighting the student's parameterization
// does not take (min-SNR on EDM).
class OutputDistillationObjective : public Objective {
 public:
  OutputDistillationObjective(FrozenModel teacher, UNetConfig student_unet, Preconditioning student_prec,
                              OutputDistillationOptions options);
  std::string name() const override { return "output-distillation"; }
  std::vector<mx::array> frozen() const override { return flatten(teacher_.params); }
  std::map<std::string, std::string> identity() const override { return identity_; }
  mx::array loss(const Params& student, const std::vector<mx::array>& frozen, const TrainBatch& batch,
                 const mx::array& key) const override;

 private:
  FrozenModel teacher_;
  UNetConfig student_unet_;
  Preconditioning student_prec_;
  OutputDistillationOptions options_;
  std::map<std::string, std::string> identity_;
};

}  // namespace anneal
