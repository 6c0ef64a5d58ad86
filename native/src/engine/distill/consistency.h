// Consistency distillation (Song et al. 2023, Algorithm 2) with iCT's loss (Song & Dhariwal
// 2023). The discretization is a list in the engine's order, decreasing: s_0 > s_1 > ... >
// s_{N-1} = sigma_min (Song et al. index the other way, sigma_1 = sigma_min < ... < sigma_N,
// and step from x_{n+1} down to x_n; their pair (sigma_{n+1}, sigma_n) is our (s_j, s_{j+1})).
// Per example a neighbouring pair (s_j, s_{j+1}), x = x0 + s_j z, one teacher Heun step down
// to s_{j+1} giving x^, and the student's consistency function f(x, s_j) pulled towards
// stop_gradient(f(x^, s_{j+1})): the stop-gradient copy of iCT/ECT, no separate EMA target
// network. Distance: pseudo-Huber sqrt(||d||^2 + c^2) - c per example (computed as
// ||d||^2 / (sqrt(||d||^2 + c^2) + c), which does not cancel for small d), weighted by
// 1 / (s_j - s_{j+1}) (iCT's lambda). No guidance.
#pragma once

#include <vector>

#include "engine/objective.h"

namespace anneal {

struct ConsistencyDistillationOptions {
  // The discretization: N >= 2 sigmas, strictly decreasing and positive (the engine's order
  // for every sigma list, without the final 0), inside the teacher's range, the last one the
  // student's sigma_min (relative slack 1e-5).
  std::vector<double> sigmas;
  double huber_c = 0;  // <= 0: iCT's 0.00054 sqrt(H W C)
  float cfg_dropout = 0.1f;
  mx::Dtype compute_dtype = mx::float32;
};

// The teacher's Heun step from sigma (x there) to sigma_next > 0, both [B]. Pure.
mx::array consistency_teacher_step(const Denoiser& teacher, const mx::array& x, const mx::array& sigma,
                                   const mx::array& sigma_next, const std::optional<mx::array>& labels);

// iCT's per-example pseudo-Huber distance sqrt(||a - b||^2 + c^2) - c over all but axis 0,
// evaluated as sq / (sqrt(sq + c^2) + c) (the same value without float32 cancellation).
mx::array pseudo_huber(const mx::array& a, const mx::array& b, double c);

// One consistency-distillation loss evaluation, term by term (the objective's loss is
// mean(weight * per_example)): per example the pair index j ~ U[0, N - 1) (key_index),
// sigma_hi = sigmas[j], sigma_lo = sigmas[j + 1], the noise z (key_noise) with x = x0 +
// sigma_hi z, the teacher's Heun step x^ to sigma_lo, the target f(x^, sigma_lo), the online
// f(x, sigma_hi), the weight 1 / (sigma_hi - sigma_lo) and the pseudo-Huber distance. Pure.
struct ConsistencyTerms {
  mx::array index, sigma_hi, sigma_lo, noise, x_lo, target, online, weight, per_example;
};
ConsistencyTerms consistency_terms(const Denoiser& teacher, const Denoiser& f, const mx::array& x0,
                                   const std::optional<mx::array>& labels, const std::vector<double>& sigmas,
                                   double huber_c, const mx::array& key_index, const mx::array& key_noise, const BatchRows& rows = {});

// Throws std::invalid_argument for a student that is not a consistency model, a bad
// discretization (one not ending at the student's sigma_min), a teacher on another VP
// schedule, or a teacher whose images differ.
class ConsistencyDistillationObjective : public Objective {
 public:
  ConsistencyDistillationObjective(FrozenModel teacher, UNetConfig student_unet, Preconditioning student_prec,
                                   ConsistencyDistillationOptions options);
  std::string name() const override { return "consistency-distillation"; }
  std::vector<mx::array> frozen() const override { return flatten(teacher_.params); }
  std::map<std::string, std::string> identity() const override { return identity_; }
  mx::array loss(const Params& student, const std::vector<mx::array>& frozen, const TrainBatch& batch,
                 const mx::array& key) const override;
  double huber_c() const { return huber_c_; }

 private:
  FrozenModel teacher_;
  UNetConfig student_unet_;
  Preconditioning student_prec_;
  ConsistencyDistillationOptions options_;
  double huber_c_;
  std::map<std::string, std::string> identity_;
};

// Consistency training without a teacher, ECT-style (Geng et al. 2024, "Consistency Models
// Made Easy"): sigma_t ~ log-normal(p_mean, p_std) clipped to the model's range, sigma_r =
// sigma_t (1 - n(sigma_t) / q^a) with n(s) = 1 + k sigmoid(-b s) and a = floor((step - 1) / d)
// + 1 (ECT's stage counted from 0, decay 1 / q^(stage + 1)), clipped at sigma_min: the first d
// steps have a = 1 (sigma_r about sigma_t / 2 at large sigma_t, clipped to sigma_min, where f
// is the identity, at small ones), and the gap shrinks by q every d steps towards
// consistency. x_t = x0 + sigma_t z and x_r = x0 + sigma_r z share z; the loss is iCT's
// pseudo-Huber of f(x_t, sigma_t) against stop_gradient(f(x_r, sigma_r)), weighted 1 / (sigma_t
// - sigma_r). Fine-tuned from a teacher's weights (Model.studentOf), as ECT starts from a
// pretrained diffusion model.
struct ConsistencyTrainingOptions {
  double p_mean = -1.1, p_std = 2.0;  // ECT's log-normal over sigma
  double q = 2.0;                     // the gap shrinks by q ...
  long halving_every = 1000;          // ... every d steps
  long total_steps = 0;               // > 0: refuse a q^a_max whose gap underflows float32
  double k = 8.0, b = 1.0;            // n(s) = 1 + k sigmoid(-b s)
  double huber_c = 0;                 // <= 0: 0.00054 sqrt(H W C)
  float cfg_dropout = 0.1f;
  mx::Dtype compute_dtype = mx::float32;
};

// ECT's pair at a 1-based step, element-wise: sigma_r (above) and the gap sigma_t - sigma_r,
// computed directly as sigma_t n(sigma_t) / q^a (or sigma_t - sigma_min where sigma_r is
// clipped), never as sigma_t (1 - n / q^a), which rounds to 0 in float32 once q^a > 2^24 and
// would make the weight 1 / gap infinite. Pure.
struct EctPair {
  mx::array sigma_r, gap;
};
EctPair ect_pair(const mx::array& sigma_t, const mx::array& step, const ConsistencyTrainingOptions& o,
                 double sigma_min);

class ConsistencyTrainingObjective : public Objective {
 public:
  ConsistencyTrainingObjective(UNetConfig unet, Preconditioning prec, ConsistencyTrainingOptions options);
  std::string name() const override { return "consistency-training"; }
  std::map<std::string, std::string> identity() const override;
  mx::array loss(const Params& student, const std::vector<mx::array>& frozen, const TrainBatch& batch,
                 const mx::array& key) const override;

 private:
  UNetConfig unet_;
  Preconditioning prec_;
  ConsistencyTrainingOptions options_;
  double huber_c_, sigma_max_;
};

}  // namespace anneal
