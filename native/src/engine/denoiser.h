// One denoiser contract in sigma space: D(x; sigma, cond). Network parameterizations (eps, v
// or x0 on a VP schedule, EDM preconditioning, consistency-model scalings) are wrappers that
// produce D; only this file knows c_skip, c_out, c_in and c_noise.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "engine/params.h"
#include "engine/schedules.h"

namespace anneal {

enum class Parameterization { Eps, V, X0, Edm, Consistency };

Parameterization parse_parameterization(const std::string& name);

struct Preconditioning {
  Parameterization kind = Parameterization::Eps;
  VPSchedule schedule;       // VP kinds: maps sigma to the network's timestep
  double sigma_data = 0.5;   // EDM
  double sigma_min = 0.002;  // consistency: the boundary where D is the identity
  // Consistency: the parameterization of the network inside f (eps, v or x0 on `schedule`),
  // so a student initialized from a VP teacher is handed the inputs (c_in x, timestep) the
  // teacher was trained on.
  Parameterization inner = Parameterization::V;
};

struct Scalings {
  mx::array c_skip, c_out, c_in, c_noise;  // each [B, 1, 1, 1] except c_noise [B]
};

// Karras et al. 2022, Table 1, for each parameterization. Consistency models: f(x, sigma) =
// D_inner + (sigma_min / sigma)(x - D_inner), D_inner the inner VP parameterization's
// denoiser, i.e. the inner model's deterministic DDIM step from sigma to sigma_min; folded
// into c_skip = r + (1 - r) c_skip_inner, c_out = (1 - r) c_out_inner, r = sigma_min / sigma
// (c_in and c_noise are the inner ones). f(x, sigma_min) = x exactly (r = 1), the weights on
// x and D_inner sum to 1, and a student built from a teacher starts as the teacher's one-step
// DDIM sampler. Song et al. 2023's c_skip/c_out (eq. 8, with sigma_data) were made for a raw
// EDM network F; applied to a full denoiser they shrink it (about 0.6 D at the top for
// sigma_data 0.6), so this form, which needs no sigma_data, is used instead.
// `sigma` is [B].
Scalings scalings(const Preconditioning& p, const DiscreteSigmas& table, const mx::array& sigma);

// The network: F(c_in x, c_noise, class) -> output of the same shape as x.
using NetworkFn = std::function<mx::array(const mx::array& x, const mx::array& c_noise,
                                          const std::optional<mx::array>& class_labels)>;

class Denoiser {
 public:
  Denoiser(Preconditioning p, NetworkFn network);
  // D(x; sigma, class) with sigma [B].
  mx::array operator()(const mx::array& x, const mx::array& sigma,
                       const std::optional<mx::array>& class_labels = {}) const;
  // The network-space regression target for x0: (x0 - c_skip x_noisy) / c_out (EDM eq. 8),
  // so an MSE on F against it is the eps / v / x0 / EDM loss. Not defined for consistency.
  mx::array network_target(const mx::array& x_noisy, const mx::array& x0, const mx::array& sigma) const;
  mx::array network_output(const mx::array& x_noisy, const mx::array& sigma,
                           const std::optional<mx::array>& class_labels) const;
  const Preconditioning& preconditioning() const { return p_; }
  const DiscreteSigmas& table() const { return table_; }
  double sigma_min() const;
  double sigma_max() const;

 private:
  Preconditioning p_;
  DiscreteSigmas table_;
  NetworkFn network_;
};

}  // namespace anneal
